"""Every message this service consumes and its handler: the queues `<ns>.digest.settings` and
`<ns>.digest.main` are bound to exactly these routing keys in pur_contracts.topology.SUBSCRIPTIONS."""
from __future__ import annotations

from pur_contracts import (
    DirectorySchoolUpserted,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettingsChanged,
    RequestAppearsAppliedChanged,
    RequestMarkedDone,
    RequestRestored,
    RequestSubmitted,
)
from pur_kit.runtime import UowHandler

from ..service_layer.projections import ProjectionHandlers


def subscriptions(handlers: ProjectionHandlers) -> dict[type, UowHandler]:
    return {
        DistrictSettingsChanged: handlers.settings_changed,
        DirectoryUserUpserted: handlers.user_changed,
        DirectoryUserDeactivated: handlers.user_changed,
        DirectorySchoolUpserted: handlers.school_upserted,
        RequestSubmitted: handlers.request_changed,
        RequestMarkedDone: handlers.request_changed,
        RequestRestored: handlers.request_changed,
        RequestAppearsAppliedChanged: handlers.request_changed,
    }
