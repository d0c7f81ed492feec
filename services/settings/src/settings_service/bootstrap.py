"""Composition root of the settings service: the kit's runtime and this service's parts."""
from __future__ import annotations

from dataclasses import dataclass

from pur_kit.runtime import ServiceRuntime

from .adapters.repository import Repositories
from .config import Settings
from .entrypoints.consumers import subscriptions
from .service_layer.messages import MessageHandlers

SERVICE = "settings"


@dataclass(frozen=True)
class Parts:
    """What this service adds to the kit's runtime; its entrypoints reach it as `runtime.parts`."""

    handlers: MessageHandlers


def bootstrap(settings: Settings | None = None) -> ServiceRuntime[Parts]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, SERVICE, repositories=Repositories)
    runtime.parts = Parts(handlers=MessageHandlers(runtime.db.unit_of_work))
    runtime.subscribe(subscriptions(runtime.parts.handlers))
    runtime.on_broker_started.append(runtime.parts.handlers.request_directory_replay_if_empty)
    return runtime
