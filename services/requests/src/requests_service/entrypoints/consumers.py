"""Every message this service consumes and its handler: the queues `<ns>.requests.*` are bound
to exactly these routing keys in pur_contracts.topology.SUBSCRIPTIONS."""
from __future__ import annotations

from pur_contracts import (
    DirectorySchoolUpserted,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettingsChanged,
    Event,
    RequestsReplayRequested,
)
from pur_kit.runtime import UowHandler

from ..service_layer.projections import ProjectionHandlers


def subscriptions(handlers: ProjectionHandlers) -> dict[type[Event], UowHandler]:
    return {
        DistrictSettingsChanged: handlers.settings_changed,
        DirectoryUserUpserted: handlers.user_changed,
        DirectoryUserDeactivated: handlers.user_changed,
        DirectorySchoolUpserted: handlers.school_upserted,
        RequestsReplayRequested: handlers.replay_requested,
    }
