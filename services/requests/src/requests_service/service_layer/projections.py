"""Message handlers: the settings and directory projections, appears-applied, replays.

Each handler runs in the unit of work the kit opened for its delivery (already claimed in the
inbox, committed by the kit when the handler returns); projection rows are version-gated, so
redelivered or reordered events are harmless.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from pur_contracts import (
    DirectoryReplayRequested,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettingsChanged,
    Event,
    RequestMarkedDone,
    RequestsReplayRequested,
    RequestSubmitted,
    SettingsReplayRequested,
)
from pur_kit.logging import get_logger
from pur_kit.uow import UnitOfWork

from ..adapters.repositories import Repositories
from ..domain.changes import FIELDS
from ..domain.model import ProfileUpdateRequest

log = get_logger(__name__)
REPLAY_BATCH = 1000

Uow = UnitOfWork[Repositories]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProjectionHandlers:
    """The handlers of every event this service consumes (`entrypoints/consumers.py`)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock

    async def settings_changed(self, event: DistrictSettingsChanged, uow: Uow) -> None:
        s = event.settings
        await uow.repos.projections.save_settings(
            event.district_id, event.version, requests_enabled=s.profile_update_requests_enabled,
            contact_details_auto_update=s.sis_sync.contact_details_auto_update,
            timezone=s.notifications.timezone, at=self.clock())

    async def school_upserted(self, event: DirectorySchoolUpserted, uow: Uow) -> None:
        await uow.repos.projections.save_school(event.school, event.version)

    async def user_changed(self, event: DirectoryUserUpserted | DirectoryUserDeactivated, uow: Uow) -> None:
        if not await uow.repos.projections.save_user(event.user, event.version):
            return  # an older version than what we have: nothing to refresh
        await _refresh_requests_of(uow, event.user, self.clock())

    async def replay_requested(self, event: RequestsReplayRequested, uow: Uow) -> None:
        """Answer with a snapshot event per request at its current version (consumers version-gate),
        written page by page so a large district does not hold every event in memory."""
        after, sent = None, 0
        while page := await uow.repos.requests.page(after=after, district_id=event.district_id, limit=REPLAY_BATCH):
            uow.publish_all(_snapshot_event(request) for request in page)
            await uow.flush()
            sent += len(page)
            after = page[-1].id
        log.info("requests_replayed", district_id=event.district_id, requests=sent,
                 requested_by=event.requested_by)


async def request_replays(unit_of_work: Callable[[], AbstractAsyncContextManager[Uow]], *,
                          only_for_empty: bool) -> None:
    """Ask settings and sis_sync to republish their state (`only_for_empty`: only those whose
    projection here is still empty, as at every start). Not a message or request of its own, so it
    opens its unit of work itself (`Database.unit_of_work`)."""
    async with unit_of_work() as uow:
        wanted: list[Event] = []
        if not only_for_empty or not await uow.repos.projections.has_settings():
            wanted.append(SettingsReplayRequested(district_id=None, requested_by="requests"))
        if not only_for_empty or not await uow.repos.projections.has_users():
            wanted.append(DirectoryReplayRequested(district_id=None, requested_by="requests"))
        uow.publish(*wanted)
        await uow.commit()
    if wanted:
        log.info("replays_requested", events=[e.event_name for e in wanted])


async def _refresh_requests_of(uow: Uow, user: DirectoryUser, now: datetime) -> None:
    """Refresh each request's requester snapshot; flag New ones whose values now all match."""
    requests = await uow.repos.requests.of_requester_for_update(user.id)
    if not requests:
        return
    name = f"{user.given_name} {user.family_name}".strip()
    current = {f: getattr(user, f) for f in FIELDS}
    for request in requests:
        schools_changed = sorted(request.school_ids) != sorted(user.school_ids)
        touched = request.refresh_requester(name, list(user.school_ids))
        touched = request.refresh_appears_applied(current, now) or touched
        if touched:
            await uow.repos.requests.save_requester_refresh(request, schools_changed=schools_changed)
            uow.publish(*request.events)


def _snapshot_event(request: ProfileUpdateRequest) -> Event:
    event_class = RequestSubmitted if request.status == "new" else RequestMarkedDone
    return event_class(district_id=request.district_id, version=request.version, request=request.snapshot())
