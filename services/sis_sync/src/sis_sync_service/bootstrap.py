"""Composition root: one place that wires settings, runtime, pipeline, handlers and loops."""
from __future__ import annotations

from dataclasses import dataclass

from pur_kit.runtime import ServiceRuntime

from .config import Settings
from .service_layer.events import EventHandlers
from .service_layer.imports import ImportPipeline
from .service_layer.runner import ImportRunner

SERVICE = "sis_sync"


@dataclass
class Container:
    settings: Settings
    runtime: ServiceRuntime
    pipeline: ImportPipeline
    runner: ImportRunner
    handlers: EventHandlers


def bootstrap(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, SERVICE)
    pipeline = ImportPipeline(settings)
    runner = ImportRunner(settings, pipeline)
    handlers = EventHandlers(runtime.sessions)
    from .entrypoints.consumers import register_consumers

    register_consumers(runtime, handlers)
    runtime.on_broker_started.append(handlers.request_settings_replay_if_empty)
    runtime.loops += [runner.sweep_loop, runner.drop_folder_loop]
    return Container(settings, runtime, pipeline, runner, handlers)
