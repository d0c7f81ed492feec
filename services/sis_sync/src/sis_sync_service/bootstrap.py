"""Composition root of the sis_sync service: the kit's runtime and this service's parts."""
from __future__ import annotations

from dataclasses import dataclass

from pur_kit.runtime import ServiceRuntime

from .adapters.repositories import Repositories
from .config import Settings
from .entrypoints.consumers import subscriptions
from .service_layer.imports import ImportPipeline
from .service_layer.messages import MessageHandlers
from .service_layer.runner import ImportRunner

SERVICE = "sis_sync"


@dataclass(frozen=True)
class Parts:
    """What this service adds to the kit's runtime; its entrypoints reach it as `runtime.parts`."""

    pipeline: ImportPipeline
    runner: ImportRunner
    handlers: MessageHandlers


def bootstrap(settings: Settings | None = None) -> ServiceRuntime[Parts]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, SERVICE, repositories=Repositories)
    pipeline = ImportPipeline(settings, on_events_committed=runtime.relay.wake)
    runtime.parts = Parts(pipeline=pipeline, runner=ImportRunner(settings, pipeline),
                          handlers=MessageHandlers(runtime.db.unit_of_work))
    runtime.subscribe(subscriptions(runtime.parts.handlers))
    runtime.on_broker_started.append(runtime.parts.handlers.request_settings_replay_if_empty)
    runtime.loops += [runtime.parts.runner.sweep_loop, runtime.parts.runner.drop_folder_loop]
    runtime.on_stop.append(pipeline.close)
    return runtime
