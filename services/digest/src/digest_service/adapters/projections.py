"""The projections' writes: district settings, schools, directory users and request snapshots,
each applied only when its `version` is newer than the stored one (a redelivered or reordered
event changes nothing).

A request's school index (`request_school`) holds New requests only, one row per school of its
requester, and is the school-scope selection of a run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from pur_contracts import DirectorySchool, DirectoryUser, DistrictSettings, RequestSnapshot

UPSERT_SETTINGS = """
INSERT INTO district_settings AS t (district_id, version, enabled, digest_enabled, digest_local_time, timezone,
                                    updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (district_id) DO UPDATE SET
    version = excluded.version, enabled = excluded.enabled, digest_enabled = excluded.digest_enabled,
    digest_local_time = excluded.digest_local_time, timezone = excluded.timezone, updated_at = excluded.updated_at
WHERE t.version < excluded.version
RETURNING t.district_id"""
UPSERT_SCHOOL = """
INSERT INTO school AS t (district_id, id, name, active, version) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (district_id, id) DO UPDATE SET
    name = excluded.name, active = excluded.active, version = excluded.version
WHERE t.version < excluded.version
RETURNING t.id"""
UPSERT_USER = """
INSERT INTO directory_user AS t (id, district_id, version, given_name, family_name, email, school_ids, active,
                                 district_admin, manager_scope, manager_school_ids)
VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11::text[])
ON CONFLICT (id) DO UPDATE SET
    district_id = excluded.district_id, version = excluded.version, given_name = excluded.given_name,
    family_name = excluded.family_name, email = excluded.email, school_ids = excluded.school_ids,
    active = excluded.active, district_admin = excluded.district_admin, manager_scope = excluded.manager_scope,
    manager_school_ids = excluded.manager_school_ids
WHERE t.version < excluded.version
RETURNING t.id"""
# The hot path (every submission and action lands here): the request is upserted only when this
# version is newer. The requester's name and schools come from the directory when we know the
# requester (locked FOR SHARE, so that a concurrent directory update of the same user waits and then
# refreshes this request too), else from the snapshot. It returns the row only when applied.
UPSERT_REQUEST = """
WITH requester AS (
    SELECT trim(given_name || ' ' || family_name) AS name, school_ids
    FROM directory_user WHERE id = $2 FOR SHARE
), incoming AS (
    SELECT coalesce((SELECT name FROM requester), $3::text) AS name,
           ARRAY(SELECT sid FROM unnest(coalesce((SELECT school_ids FROM requester), $4::text[]))
                 WITH ORDINALITY AS t (sid, n) GROUP BY sid ORDER BY min(n)) AS school_ids
)
INSERT INTO request AS r (id, district_id, requester_id, requester_name, school_ids, status, fields,
                          has_note, appears_applied, submitted_at, done_at, version)
SELECT $1, $5, $2, incoming.name, incoming.school_ids, $6, $7::text[], $8, $9, $10, $11, $12
FROM incoming
ON CONFLICT (id) DO UPDATE SET
    district_id = excluded.district_id, requester_id = excluded.requester_id,
    requester_name = excluded.requester_name, school_ids = excluded.school_ids, status = excluded.status,
    fields = excluded.fields, has_note = excluded.has_note, appears_applied = excluded.appears_applied,
    submitted_at = excluded.submitted_at, done_at = excluded.done_at, version = excluded.version
WHERE r.version < excluded.version
RETURNING r.id, r.district_id, r.status, r.submitted_at, r.school_ids"""
FOLLOW_REQUESTER = """UPDATE request SET requester_name = $2, school_ids = $3::text[] WHERE requester_id = $1
    RETURNING id, district_id, status, submitted_at, school_ids"""
# The index rows of one request, in line with it. A statement of its own: a statement sees the rows
# committed before it started, and the upsert above may have waited for a concurrent handler of the
# same request (up to `prefetch` messages are handled at once) whose index rows only a later
# statement can see. Deleted and inserted keys are disjoint: the sub-statements of one statement
# cannot see each other's changes, so no row may be touched twice.
INDEX_SCHOOLS = """
WITH gone AS (
    DELETE FROM request_school
    WHERE request_id = $1 AND ($3 <> 'new' OR NOT school_id = ANY ($5::text[]))
)
INSERT INTO request_school AS rs (request_id, school_id, district_id, submitted_at, shared)
SELECT $1, sid, $2, $4, cardinality($5::text[]) > 1 FROM unnest($5::text[]) AS sid
WHERE $3 = 'new'
ON CONFLICT (request_id, school_id) DO UPDATE SET
    district_id = excluded.district_id, submitted_at = excluded.submitted_at, shared = excluded.shared"""
EMPTY = """SELECT NOT EXISTS (SELECT 1 FROM district_settings) AS settings,
                  NOT EXISTS (SELECT 1 FROM directory_user) AS directory,
                  NOT EXISTS (SELECT 1 FROM request) AS requests"""


@dataclass(frozen=True, slots=True)
class IndexedRequest:
    """What the school index of a request is built from."""

    id: UUID
    district_id: str
    status: str
    submitted_at: datetime
    school_ids: tuple[str, ...]   # without duplicates (one statement may not upsert a row twice)


def _indexed(row) -> IndexedRequest:
    return IndexedRequest(row["id"], row["district_id"], row["status"], row["submitted_at"], tuple(row["school_ids"]))


class Projections:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def upsert_settings(self, district_id: str, version: int, settings: DistrictSettings) -> bool:
        n = settings.notifications
        return await self.conn.fetchval(
            UPSERT_SETTINGS, district_id, version, settings.profile_update_requests_enabled, n.daily_digest_enabled,
            n.digest_local_time, n.timezone, datetime.now(UTC)) is not None

    async def upsert_school(self, school: DirectorySchool, version: int) -> bool:
        return await self.conn.fetchval(
            UPSERT_SCHOOL, school.district_id, school.id, school.name, school.active, version) is not None

    async def upsert_user(self, user: DirectoryUser, version: int) -> bool:
        manager = user.permissions.users_manager
        return await self.conn.fetchval(
            UPSERT_USER, user.id, user.district_id, version, user.given_name, user.family_name, user.email,
            list(user.school_ids), user.active, user.permissions.district_admin,
            manager.scope if manager else None,
            list(manager.school_ids) if manager and manager.scope == "schools" else []) is not None

    async def upsert_request(self, request: RequestSnapshot, version: int) -> IndexedRequest | None:
        """The request as stored when this version was newer, else None."""
        row = await self.conn.fetchrow(
            UPSERT_REQUEST, request.id, request.requester_id, request.requester_name, list(request.school_ids),
            request.district_id, request.status, list(request.fields), request.has_note, request.appears_applied,
            request.submitted_at, request.done_at, version)
        return _indexed(row) if row is not None else None

    async def follow_requester(self, requester_id: UUID, name: str,
                               school_ids: tuple[str, ...]) -> list[IndexedRequest]:
        """Give every request of the requester this name and these schools (without duplicates)."""
        return [_indexed(r) for r in await self.conn.fetch(FOLLOW_REQUESTER, requester_id, name, list(school_ids))]

    async def index_schools(self, request: IndexedRequest) -> None:
        await self.conn.execute(INDEX_SCHOOLS, request.id, request.district_id, request.status, request.submitted_at,
                                list(request.school_ids))

    async def empty(self) -> set[str]:
        """Which projections hold nothing yet: among `settings`, `directory`, `requests`."""
        row = await self.conn.fetchrow(EMPTY)
        return {name for name in ("settings", "directory", "requests") if row[name]}
