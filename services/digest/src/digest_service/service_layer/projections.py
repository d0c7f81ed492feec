"""Message handlers: projections of district settings, the directory and the requests; the
start-up replay requests.

The kit claims each delivery in the inbox before calling a handler and commits after it, in one
unit of work. Every write is applied only when the event's `version` is newer, so redelivered or
reordered events are harmless. The requester's name and schools follow the directory when we know
the requester (the requests service refreshes its copy of them without publishing an event), and
the request snapshot otherwise.
"""
from __future__ import annotations

from pur_contracts import (
    DirectoryReplayRequested,
    DirectorySchoolUpserted,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettingsChanged,
    RequestAppearsAppliedChanged,
    RequestMarkedDone,
    RequestRestored,
    RequestsReplayRequested,
    RequestSubmitted,
    SettingsReplayRequested,
)
from pur_kit.logging import get_logger

from ..adapters.repositories import UnitOfWorkFactory, Uow

log = get_logger(__name__)
SERVICE = "digest"
RequestEvent = RequestSubmitted | RequestMarkedDone | RequestRestored | RequestAppearsAppliedChanged

# Which owner to ask for a replay when a projection is still empty.
REPLAYS = {"settings": SettingsReplayRequested, "directory": DirectoryReplayRequested,
           "requests": RequestsReplayRequested}


class ProjectionHandlers:
    """The handlers, `handler(event, uow)`, and the start-up replay requests."""

    def __init__(self, unit_of_work: UnitOfWorkFactory) -> None:
        self.unit_of_work = unit_of_work

    async def settings_changed(self, event: DistrictSettingsChanged, uow: Uow) -> None:
        await uow.repos.projections.upsert_settings(event.district_id, event.version, event.settings)

    async def school_upserted(self, event: DirectorySchoolUpserted, uow: Uow) -> None:
        await uow.repos.projections.upsert_school(event.school, event.version)

    async def user_changed(self, event: DirectoryUserUpserted | DirectoryUserDeactivated, uow: Uow) -> None:
        """A newer version of a user; when they are a requester, their requests show the new name
        and count for their new schools."""
        user = event.user
        if not await uow.repos.projections.upsert_user(user, event.version):
            return
        name = f"{user.given_name} {user.family_name}".strip()
        schools = tuple(dict.fromkeys(user.school_ids))
        for request in await uow.repos.projections.follow_requester(user.id, name, schools):
            await uow.repos.projections.index_schools(request)

    async def request_changed(self, event: RequestEvent, uow: Uow) -> None:
        """The hot path (every submission and action): the snapshot, then its school index. Two
        statements: the second must see what a concurrent handler of the same request committed
        while the first waited for it (adapters/projections.py)."""
        request = await uow.repos.projections.upsert_request(event.request, event.version)
        if request is not None:
            await uow.repos.projections.index_schools(request)

    async def request_replays_if_empty(self) -> None:
        """At start: ask the owners for their state when a projection is still empty."""
        async with self.unit_of_work() as uow:
            empty = await uow.repos.projections.empty()
            wanted = [event(district_id=None, requested_by=SERVICE) for name, event in REPLAYS.items() if name in empty]
            uow.publish_all(wanted)
            await uow.commit()
        if wanted:
            log.info("replays_requested", events=[e.event_name for e in wanted])
