"""Writes of requests on the HTTP paths (asyncpg, one round trip per write where possible).

The request row, its school index rows, its history entry and its outbox event are written by one
statement (data-modifying CTEs), which PostgreSQL applies atomically: the outbox guarantee holds
without an explicit transaction, and a submission costs two round trips in all.
"""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from pur_contracts import Event
from pur_kit.logging import current_correlation_id

from ..domain.changes import FIELDS
from ..domain.model import ProfileUpdateRequest

REQUEST_COLUMNS = (
    "r.id, r.district_id, r.requester_id, r.requester_name, r.school_ids, r.status, r.changes, r.note, "
    "r.appears_applied, r.submitted_at, r.done_at, r.done_by, r.version"
)

SUBMISSION_CONTEXT = """
SELECT u.id AS user_id, u.district_id, u.given_name, u.family_name, u.email, u.phone, u.sms,
       u.school_ids, u.active,
       s.profile_update_requests_enabled, s.contact_details_auto_update,
       e.id AS existing_id, e.idempotency_fingerprint
FROM (SELECT $1::uuid AS id) k
LEFT JOIN directory_user u ON u.id = k.id
LEFT JOIN district_settings s ON s.district_id = $2
LEFT JOIN request e ON e.requester_id = k.id AND e.idempotency_key = $3
"""

# The requester row is locked FOR SHARE and its name and schools are taken from it: a directory
# update of this user then waits for this insert to commit, and its handler (which refreshes the
# user's requests) sees the new request. Without the lock the request could keep stale schools.
INSERT_SUBMITTED = """
WITH u AS (
    SELECT id, given_name || ' ' || family_name AS name, school_ids
    FROM directory_user WHERE id = $2 FOR SHARE
), ins AS (
    INSERT INTO request (id, district_id, requester_id, requester_name, school_ids, status, changes, note,
                         appears_applied, submitted_at, version, idempotency_key, idempotency_fingerprint)
    SELECT $1, $3, u.id, u.name, u.school_ids, 'new', $4::jsonb, $5, false, $6, 1, $7, $8 FROM u
    ON CONFLICT (requester_id, idempotency_key) DO NOTHING
    RETURNING id, school_ids
), schools AS (
    INSERT INTO request_school (request_id, school_id, district_id, status, submitted_at)
    SELECT ins.id, sid, $3, 'new', $6 FROM ins, unnest(ins.school_ids) AS sid
), history AS (
    INSERT INTO request_history (request_id, action, by, at) SELECT id, 'submitted', $9, $6 FROM ins
), outbox AS (
    INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id)
    SELECT $10, $11, $11, $12, $13 FROM ins
)
SELECT id FROM ins
"""

SELECT_FOR_UPDATE = f"SELECT {REQUEST_COLUMNS} FROM request r WHERE r.id = $1 FOR UPDATE"

SAVE_TRANSITION = """
WITH upd AS (
    UPDATE request SET status = $2, done_at = $3, done_by = $4, version = $5 WHERE id = $1
), schools AS (
    UPDATE request_school SET status = $2 WHERE request_id = $1
), history AS (
    INSERT INTO request_history (request_id, action, by, at) VALUES ($1, $6, $7, $8)
)
INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id)
SELECT * FROM unnest($9::text[], $10::text[], $10::text[], $11::text[], $12::text[])
"""


def changes_json(changes: dict[str, str]) -> list[dict[str, str]]:
    return [{"field": f, "requested": v} for f, v in changes.items()]


def row_to_request(row) -> ProfileUpdateRequest:
    stored = {c["field"]: c["requested"] for c in row["changes"]}
    return ProfileUpdateRequest(
        id=row["id"], district_id=row["district_id"], requester_id=row["requester_id"],
        requester_name=row["requester_name"], school_ids=list(row["school_ids"]), status=row["status"],
        changes={f: stored[f] for f in FIELDS if f in stored}, note=row["note"],
        appears_applied=row["appears_applied"], submitted_at=row["submitted_at"], done_at=row["done_at"],
        done_by=row["done_by"], version=row["version"],
    )


async def submission_context(conn: asyncpg.Connection, user_id: UUID, district_id: str,
                             idempotency_key: str | None):
    return await conn.fetchrow(SUBMISSION_CONTEXT, user_id, district_id, idempotency_key)


async def insert_submitted(conn: asyncpg.Connection, request: ProfileUpdateRequest, *, by: str,
                           idempotency_key: str | None, fingerprint: str | None) -> bool:
    """False when a concurrent retry with the same Idempotency-Key won (nothing was written)."""
    (event,) = request.events
    inserted = await conn.fetchval(
        INSERT_SUBMITTED, request.id, request.requester_id, request.district_id, changes_json(request.changes),
        request.note, request.submitted_at, idempotency_key, fingerprint, by,
        str(event.event_id), event.event_name, event.model_dump_json(), current_correlation_id(),
    )
    return inserted is not None


async def load_for_update(conn: asyncpg.Connection, request_id: UUID) -> ProfileUpdateRequest | None:
    row = await conn.fetchrow(SELECT_FOR_UPDATE, request_id)
    return None if row is None else row_to_request(row)


async def save_transition(conn: asyncpg.Connection, request: ProfileUpdateRequest, *, action: str, by: str,
                          at: datetime, events: list[Event]) -> None:
    cid = current_correlation_id()
    await conn.execute(
        SAVE_TRANSITION, request.id, request.status, request.done_at, request.done_by, request.version,
        action, by, at,
        [str(e.event_id) for e in events], [e.event_name for e in events],
        [e.model_dump_json() for e in events], [cid] * len(events),
    )
