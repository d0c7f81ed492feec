"""Every event sis_sync consumes, and its handler (the queue's bindings live in pur_contracts.topology)."""
from __future__ import annotations

from pur_contracts import DirectoryReplayRequested, DistrictSettingsChanged

from ..service_layer.messages import MessageHandlers


def subscriptions(handlers: MessageHandlers) -> dict:
    return {
        DistrictSettingsChanged: handlers.district_settings_changed,
        DirectoryReplayRequested: handlers.directory_replay_requested,
    }
