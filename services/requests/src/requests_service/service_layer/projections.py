"""Message handlers: the settings and directory projections, appears-applied, replays.

Each handler is one transaction that first claims the message in the inbox (a duplicate delivery
stops there), then applies its effect; projection rows are version-gated (`upsert_if_newer`), so
redelivered or reordered events are harmless.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pur_contracts import (
    DirectoryReplayRequested,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettingsChanged,
    RequestMarkedDone,
    RequestsReplayRequested,
    RequestSubmitted,
    SettingsReplayRequested,
)
from pur_kit.consumer import Delivery
from pur_kit.inbox import claim_message, upsert_if_newer
from pur_kit.logging import get_logger
from pur_kit.outbox import add_events
from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from ..adapters import orm
from ..adapters.request_store import row_to_request
from ..domain.changes import FIELDS
from ..domain.model import ProfileUpdateRequest

log = get_logger(__name__)
REPLAY_BATCH = 1000


class ProjectionHandlers:
    def __init__(self, sessions: async_sessionmaker, on_events_committed: Callable[[], None] = lambda: None) -> None:
        self.sessions = sessions
        self.events_committed = on_events_committed  # wakes this process's outbox relay

    async def settings_changed(self, event: DistrictSettingsChanged, delivery: Delivery) -> None:
        async with self.sessions.begin() as session:
            if not await claim_message(session, orm.INBOX, orm.CONSUMER, delivery.message_id):
                return
            s = event.settings
            await upsert_if_newer(session, orm.district_settings, {
                "district_id": event.district_id, "version": event.version,
                "profile_update_requests_enabled": s.profile_update_requests_enabled,
                "contact_details_auto_update": s.sis_sync.contact_details_auto_update,
                "updated_at": datetime.now(UTC),
            }, ["district_id"])

    async def school_upserted(self, event: DirectorySchoolUpserted, delivery: Delivery) -> None:
        async with self.sessions.begin() as session:
            if not await claim_message(session, orm.INBOX, orm.CONSUMER, delivery.message_id):
                return
            school = event.school
            await upsert_if_newer(session, orm.school, {
                "district_id": school.district_id, "id": school.id, "name": school.name,
                "active": school.active, "version": event.version,
            }, ["district_id", "id"])

    async def user_changed(self, event: DirectoryUserUpserted | DirectoryUserDeactivated, delivery: Delivery) -> None:
        async with self.sessions.begin() as session:
            if not await claim_message(session, orm.INBOX, orm.CONSUMER, delivery.message_id):
                return
            user = event.user
            if not await upsert_if_newer(session, orm.directory_user, _user_row(user, event.version), ["id"]):
                return  # an older version than what we have: nothing to refresh
            published = await _refresh_requests_of(session, user)
        if published:
            self.events_committed()

    async def replay_requested(self, event: RequestsReplayRequested, delivery: Delivery) -> None:
        """Answer with a snapshot event per request at its current version (consumers version-gate)."""
        async with self.sessions.begin() as session:
            if not await claim_message(session, orm.INBOX, orm.CONSUMER, delivery.message_id):
                return
            query = select(orm.request).order_by(orm.request.c.id).limit(REPLAY_BATCH)
            if event.district_id is not None:
                query = query.where(orm.request.c.district_id == event.district_id)
            last_id, sent = None, 0
            while True:
                page = query if last_id is None else query.where(orm.request.c.id > last_id)
                rows = (await session.execute(page)).mappings().all()
                if not rows:
                    break
                await add_events(session, orm.OUTBOX, [_snapshot_event(row_to_request(r)) for r in rows])
                sent += len(rows)
                last_id = rows[-1]["id"]
        self.events_committed()
        log.info("requests_replayed", district_id=event.district_id, requests=sent,
                 requested_by=event.requested_by)

    async def request_replays_if_empty(self) -> None:
        """At start: ask the owners for their state when a projection is still empty."""
        async with self.sessions.begin() as session:
            wanted = []
            if not (await session.execute(select(exists().select_from(orm.district_settings)))).scalar():
                wanted.append(SettingsReplayRequested(district_id=None, requested_by="requests"))
            if not (await session.execute(select(exists().select_from(orm.directory_user)))).scalar():
                wanted.append(DirectoryReplayRequested(district_id=None, requested_by="requests"))
            await add_events(session, orm.OUTBOX, wanted)
        if wanted:
            self.events_committed()
            log.info("replays_requested", events=[e.event_name for e in wanted])


def _user_row(user: DirectoryUser, version: int) -> dict:
    manager = user.permissions.users_manager
    return {
        "id": user.id, "district_id": user.district_id, "version": version, "sis_id": user.sis_id,
        "role": user.role, "given_name": user.given_name, "family_name": user.family_name,
        "email": user.email, "phone": user.phone, "sms": user.sms, "school_ids": list(user.school_ids),
        "active": user.active, "district_admin": user.permissions.district_admin,
        "manager_scope": manager.scope if manager else None,
        "manager_school_ids": list(manager.school_ids) if manager and manager.scope == "schools" else [],
    }


async def _refresh_requests_of(session, user: DirectoryUser) -> bool:
    """Refresh each request's requester snapshot; flag New ones whose values now all match.

    True when events were written."""
    rows = (await session.execute(
        select(orm.request).where(orm.request.c.requester_id == user.id).with_for_update()
    )).mappings().all()
    if not rows:
        return False
    name = f"{user.given_name} {user.family_name}".strip()
    current = {f: getattr(user, f) for f in FIELDS}
    now = datetime.now(UTC)
    events = []
    for row in rows:
        request = row_to_request(row)
        schools_changed = sorted(request.school_ids) != sorted(user.school_ids)
        touched = request.refresh_requester(name, list(user.school_ids))
        touched = request.refresh_appears_applied(current, now) or touched
        if not touched:
            continue
        await session.execute(update(orm.request).where(orm.request.c.id == request.id).values(
            requester_name=request.requester_name, school_ids=request.school_ids,
            appears_applied=request.appears_applied, version=request.version))
        if schools_changed:
            await _reindex_schools(session, request)
        events += request.events
    await add_events(session, orm.OUTBOX, events)
    return bool(events)


async def _reindex_schools(session, request: ProfileUpdateRequest) -> None:
    rs = orm.request_school
    await session.execute(rs.delete().where(rs.c.request_id == request.id))
    if request.school_ids:
        await session.execute(pg_insert(rs), [
            {"request_id": request.id, "school_id": s, "district_id": request.district_id,
             "status": request.status, "submitted_at": request.submitted_at}
            for s in request.school_ids
        ])


def _snapshot_event(request: ProfileUpdateRequest):
    event_class = RequestSubmitted if request.status == "new" else RequestMarkedDone
    return event_class(district_id=request.district_id, version=request.version, request=request.snapshot())
