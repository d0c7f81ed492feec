"""Every event sis_sync consumes, and its handler (the queue's bindings live in pur_contracts.topology)."""
from __future__ import annotations

from pur_contracts import DirectoryReplayRequested, DistrictSettingsChanged
from pur_kit.runtime import ServiceRuntime

from ..service_layer.events import EventHandlers


def register_consumers(runtime: ServiceRuntime, handlers: EventHandlers) -> None:
    runtime.add_consumers({
        DistrictSettingsChanged: handlers.district_settings_changed,
        DirectoryReplayRequested: handlers.directory_replay_requested,
    })
