"""Every message this service consumes and its handler: the queue `<ns>.settings.main` is bound
to exactly these routing keys in pur_contracts.topology.SUBSCRIPTIONS."""
from __future__ import annotations

from pur_contracts import DirectoryUserDeactivated, DirectoryUserUpserted, SettingsReplayRequested

from ..service_layer.messages import MessageHandlers


def subscriptions(handlers: MessageHandlers) -> dict:
    return {
        DirectoryUserUpserted: handlers.user_changed,
        DirectoryUserDeactivated: handlers.user_changed,
        SettingsReplayRequested: handlers.replay_requested,
    }
