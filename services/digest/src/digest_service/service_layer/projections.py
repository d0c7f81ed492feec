"""Message handlers: projections of district settings, the directory and the requests; the
start-up replay requests.

Each handler is one transaction that first claims the message in the inbox (a duplicate delivery
stops there), then upserts only a newer `version`, so redelivered or reordered events are harmless.
A request's school index holds New requests only. The requester's name and schools follow the
directory when we know the requester (the requests service refreshes its copy of them without
publishing an event), and the request snapshot otherwise.
"""
from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg
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
from pur_kit.consumer import Delivery
from pur_kit.inbox import claim_message, upsert_if_newer
from pur_kit.logging import get_logger
from pur_kit.outbox import add_events
from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..adapters import orm

log = get_logger(__name__)
SERVICE = "digest"
RequestEvent = RequestSubmitted | RequestMarkedDone | RequestRestored | RequestAppearsAppliedChanged


# The request projection in two statements of one transaction (the hot path: every submission and
# action lands here). The first claims the message in the inbox, then upserts the request only when
# this version is newer. The requester's name and schools come from the directory when we know the
# requester (locked FOR SHARE, so that a concurrent directory update of the same user waits and then
# refreshes this request too), else from the snapshot. It returns the row only when applied.
REQUEST_CHANGED = """
WITH claim AS (
    INSERT INTO inbox_message (consumer, message_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING RETURNING 1
), requester AS (
    SELECT trim(given_name || ' ' || family_name) AS name, school_ids
    FROM directory_user WHERE id = $4 AND EXISTS (SELECT 1 FROM claim) FOR SHARE
), incoming AS (
    SELECT coalesce((SELECT name FROM requester), $5::text) AS name,
           ARRAY(SELECT sid FROM unnest(coalesce((SELECT school_ids FROM requester), $6::text[]))
                 WITH ORDINALITY AS t (sid, n) GROUP BY sid ORDER BY min(n)) AS school_ids
    FROM claim
)
INSERT INTO request AS r (id, district_id, requester_id, requester_name, school_ids, status, fields,
                          has_note, appears_applied, submitted_at, done_at, version)
SELECT $3, $7, $4, incoming.name, incoming.school_ids, $8, $9::text[], $10, $11, $12, $13, $14
FROM incoming
ON CONFLICT (id) DO UPDATE SET
    district_id = excluded.district_id, requester_id = excluded.requester_id,
    requester_name = excluded.requester_name, school_ids = excluded.school_ids, status = excluded.status,
    fields = excluded.fields, has_note = excluded.has_note, appears_applied = excluded.appears_applied,
    submitted_at = excluded.submitted_at, done_at = excluded.done_at, version = excluded.version
WHERE r.version < excluded.version
RETURNING r.id, r.district_id, r.status, r.submitted_at, r.school_ids
"""
# The second brings the request's school index rows in line. It must be a statement of its own: a
# statement sees the rows committed before it started, and the upsert above may have waited for a
# concurrent handler of the same request (up to `prefetch` messages are handled at once) whose index
# rows only a later statement can see. Deleted and inserted keys are disjoint: the sub-statements of
# one statement cannot see each other's changes, so no row may be touched twice.
INDEX_SCHOOLS = """
WITH gone AS (
    DELETE FROM request_school
    WHERE request_id = $1 AND ($3 <> 'new' OR NOT school_id = ANY ($5::text[]))
)
INSERT INTO request_school AS rs (request_id, school_id, district_id, submitted_at, shared)
SELECT $1, sid, $2, $4, cardinality($5::text[]) > 1 FROM unnest($5::text[]) AS sid
WHERE $3 = 'new'
ON CONFLICT (request_id, school_id) DO UPDATE SET
    district_id = excluded.district_id, submitted_at = excluded.submitted_at, shared = excluded.shared
"""


class ProjectionHandlers:
    def __init__(self, sessions: async_sessionmaker, db) -> None:
        self.sessions = sessions
        self.db = db   # the asyncpg pool (adapters.db.Database) of the hot path

    async def settings_changed(self, event: DistrictSettingsChanged, delivery: Delivery) -> None:
        async with self.sessions.begin() as session:
            if not await claim_message(session, orm.INBOX, orm.CONSUMER, delivery.message_id):
                return
            s = event.settings
            await upsert_if_newer(session, orm.district_settings, {
                "district_id": event.district_id, "version": event.version,
                "enabled": s.profile_update_requests_enabled,
                "digest_enabled": s.notifications.daily_digest_enabled,
                "digest_local_time": s.notifications.digest_local_time,
                "timezone": s.notifications.timezone,
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
            manager = user.permissions.users_manager
            applied = await upsert_if_newer(session, orm.directory_user, {
                "id": user.id, "district_id": user.district_id, "version": event.version,
                "given_name": user.given_name, "family_name": user.family_name, "email": user.email,
                "school_ids": list(user.school_ids), "active": user.active,
                "district_admin": user.permissions.district_admin,
                "manager_scope": manager.scope if manager else None,
                "manager_school_ids": list(manager.school_ids) if manager and manager.scope == "schools" else [],
            }, ["id"])
            if applied:
                await _follow_requester(session, user.id, f"{user.given_name} {user.family_name}".strip(),
                                        list(user.school_ids))

    async def request_changed(self, event: RequestEvent, delivery: Delivery) -> None:
        r = event.request
        async with self.db.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                REQUEST_CHANGED, orm.CONSUMER, delivery.message_id, r.id, r.requester_id, r.requester_name,
                list(r.school_ids), r.district_id, r.status, list(r.fields), r.has_note, r.appears_applied,
                r.submitted_at, r.done_at, event.version,
            )
            if row is not None:
                await _index_schools(conn, row["id"], row["district_id"], row["status"], row["submitted_at"],
                                     row["school_ids"])

    async def request_replays_if_empty(self) -> None:
        """At start: ask the owners for their state when a projection is still empty."""
        wanted = []
        async with self.sessions.begin() as session:
            for table, event in ((orm.district_settings, SettingsReplayRequested),
                                 (orm.directory_user, DirectoryReplayRequested),
                                 (orm.request, RequestsReplayRequested)):
                if not (await session.execute(select(exists().select_from(table)))).scalar():
                    wanted.append(event(district_id=None, requested_by=SERVICE))
            await add_events(session, orm.OUTBOX, wanted)
        if wanted:
            log.info("replays_requested", events=[e.event_name for e in wanted])


async def _index_schools(conn: asyncpg.Connection, request_id: UUID, district_id: str, status: str,
                         submitted_at: datetime, schools: list[str]) -> None:
    """`schools` without duplicates (one statement may not upsert a row twice)."""
    await conn.execute(INDEX_SCHOOLS, request_id, district_id, status, submitted_at, schools)


async def _follow_requester(session: AsyncSession, requester_id: UUID, name: str, schools: list[str]) -> None:
    """A directory update of a requester: their requests show the new name and count for the new schools."""
    schools = list(dict.fromkeys(schools))
    rows = (await session.execute(
        update(orm.request).where(orm.request.c.requester_id == requester_id)
        .values(requester_name=name, school_ids=schools)
        .returning(orm.request.c.id, orm.request.c.district_id, orm.request.c.status, orm.request.c.submitted_at)
    )).all()
    if not rows:
        return
    # The same statement as the hot path, on the session's own connection (same transaction).
    conn = (await (await session.connection()).get_raw_connection()).driver_connection
    for row in rows:
        await _index_schools(conn, row.id, row.district_id, row.status, row.submitted_at, schools)
