"""Composition root: the kit's runtime with this service's consumers and startup hook."""
from __future__ import annotations

from pur_kit.runtime import ServiceRuntime

from .config import Settings
from .entrypoints.consumers import subscriptions
from .service_layer.messages import MessageHandlers

SERVICE = "settings"


def build_runtime(settings: Settings) -> tuple[ServiceRuntime, MessageHandlers]:
    runtime = ServiceRuntime(settings, SERVICE)
    handlers = MessageHandlers(runtime.sessions)
    runtime.add_consumers(subscriptions(handlers))

    async def ask_for_directory() -> None:
        await handlers.request_directory_replay_if_empty()

    runtime.on_broker_started.append(ask_for_directory)
    return runtime, handlers
