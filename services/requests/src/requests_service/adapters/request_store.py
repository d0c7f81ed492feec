"""The request repository: every write of requests, and the reads the writes need.

The request rows, their school index rows, history entries and outbox events are written by one
statement (data-modifying CTEs, the outbox rows through `pur_kit.uow.outbox_insert`), which
PostgreSQL applies atomically: the outbox guarantee holds without an explicit transaction. A
submission, or a group of them (service_layer/submission.py), costs two round trips in all.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import asyncpg
from pur_contracts import Event
from pur_kit.uow import OUTBOX_COLUMNS, outbox_insert, outbox_rows

from ..domain.changes import FIELDS
from ..domain.model import DistrictPolicy, ProfileUpdateRequest, Requester

REQUEST_COLUMNS = (
    "r.id, r.district_id, r.requester_id, r.requester_name, r.school_ids, r.status, r.changes, r.note, "
    "r.appears_applied, r.submitted_at, r.done_at, r.done_by, r.version"
)

# Every submission statement comes in two forms from one text: for one submission (scalar
# parameters) and for a group (arrays, unnest). PostgreSQL caches a plan for the scalar form; for
# the array form it estimates a custom plan cheaper and re-plans each time (measured: 0.8 ms of its
# CPU per statement pair), which a group shares and a lone submission should not pay.
_ONE_KEY = "(SELECT $1::uuid AS id, $2::text AS district_id, $3::text AS key, 1::bigint AS ord)"
_MANY_KEYS = "unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY"

# One row per submission, in input order: the requester, the district's settings and the request
# already written with the same Idempotency-Key. (LATERAL ... LIMIT 1, which the planner cannot
# flatten: it guesses 100 rows for unnest and chose hash joins over whole tables.)
_CONTEXTS = """
SELECT k.ord, u.id AS user_id, u.district_id, u.given_name, u.family_name, u.email, u.phone, u.sms,
       u.school_ids, u.active,
       s.profile_update_requests_enabled, s.contact_details_auto_update,
       e.id AS existing_id, e.idempotency_fingerprint
FROM {keys} AS k(id, district_id, key, ord)
LEFT JOIN LATERAL (SELECT * FROM directory_user WHERE id = k.id LIMIT 1) u ON true
LEFT JOIN LATERAL (SELECT * FROM district_settings WHERE district_id = k.district_id LIMIT 1) s ON true
LEFT JOIN LATERAL (SELECT id, idempotency_fingerprint FROM request
                   WHERE requester_id = k.id AND idempotency_key = k.key LIMIT 1) e ON true
ORDER BY k.ord
"""
CONTEXT_ONE = _CONTEXTS.format(keys=_ONE_KEY)
CONTEXTS_MANY = _CONTEXTS.format(keys=_MANY_KEYS)

# A new request's columns, then its event's outbox columns (named as `outbox_insert` expects).
_NEW_COLUMNS = (("id", "uuid"), ("requester_id", "uuid"), ("district_id", "text"), ("changes", "text"),
                ("note", "text"), ("submitted_at", "timestamptz"), ("idempotency_key", "text"),
                ("fingerprint", "text"), ("by", "text"), *OUTBOX_COLUMNS)
_ONE_NEW = "SELECT " + ", ".join(f"${n}::{kind} AS {name}" for n, (name, kind) in enumerate(_NEW_COLUMNS, 1))
_MANY_NEW = "SELECT * FROM unnest({}) AS t({})".format(
    ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(_NEW_COLUMNS, 1)),
    ", ".join(name for name, _ in _NEW_COLUMNS))

# The requesters' rows are locked FOR SHARE and names and schools are taken from them: a directory
# update of one of them then waits for this insert to commit, and its handler (which refreshes the
# user's requests) sees the new request. Without the lock a request could keep stale schools.
# A row whose (requester, Idempotency-Key) exists already, or came earlier in the same group, is
# skipped (ON CONFLICT DO NOTHING) and is absent from the returned ids, and so is its event.
_INSERT = """
WITH i AS ({new}), u AS (
    SELECT id, given_name || ' ' || family_name AS name, school_ids
    FROM directory_user WHERE id {requesters} ORDER BY id FOR SHARE
), ins AS (
    INSERT INTO request (id, district_id, requester_id, requester_name, school_ids, status, changes, note,
                         appears_applied, submitted_at, version, idempotency_key, idempotency_fingerprint)
    SELECT i.id, i.district_id, u.id, u.name, u.school_ids, 'new', i.changes::jsonb, i.note, false,
           i.submitted_at, 1, i.idempotency_key, i.fingerprint
    FROM i JOIN u ON u.id = i.requester_id
    ON CONFLICT (requester_id, idempotency_key) DO NOTHING
    RETURNING id, district_id, school_ids, submitted_at
), schools AS (
    INSERT INTO request_school (request_id, school_id, district_id, status, submitted_at)
    SELECT ins.id, sid, ins.district_id, 'new', ins.submitted_at FROM ins, unnest(ins.school_ids) AS sid
), history AS (
    INSERT INTO request_history (request_id, action, by, at)
    SELECT i.id, 'submitted', i.by, i.submitted_at FROM i JOIN ins ON ins.id = i.id
), outbox AS ({outbox})
SELECT id FROM ins
"""
_OUTBOX_OF_WRITTEN = outbox_insert("i JOIN ins ON ins.id = i.id")
INSERT_ONE = _INSERT.format(new=_ONE_NEW, requesters="= $2", outbox=_OUTBOX_OF_WRITTEN)
INSERT_MANY = _INSERT.format(new=_MANY_NEW, requesters="= ANY($2::uuid[])", outbox=_OUTBOX_OF_WRITTEN)

SELECT_FOR_UPDATE = f"SELECT {REQUEST_COLUMNS} FROM request r WHERE r.id = $1 FOR UPDATE"

# Mark as Done / Restore: the request, its school rows, the history entry and the events, at once.
_EVENTS = "unnest({}) AS o({})".format(
    ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(OUTBOX_COLUMNS, 9)),
    ", ".join(name for name, _ in OUTBOX_COLUMNS))
SAVE_TRANSITION = """
WITH upd AS (
    UPDATE request SET status = $2, done_at = $3, done_by = $4, version = $5 WHERE id = $1
), schools AS (
    UPDATE request_school SET status = $2 WHERE request_id = $1
), history AS (
    INSERT INTO request_history (request_id, action, by, at) VALUES ($1, $6, $7, $8)
)
""" + outbox_insert(_EVENTS)

# A page of them at once (bulk Mark as Done / Restore): locked in id order, so two bulk actions
# over overlapping pages wait for each other instead of deadlocking.
SELECT_MANY_FOR_UPDATE = f"SELECT {REQUEST_COLUMNS} FROM request r WHERE r.id = ANY($1::uuid[]) ORDER BY r.id FOR UPDATE"
SAVE_TRANSITIONS = """
WITH t AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::int[])
        AS t(id, status, done_at, done_by, version)
), upd AS (
    UPDATE request r SET status = t.status, done_at = t.done_at, done_by = t.done_by, version = t.version
    FROM t WHERE r.id = t.id
), schools AS (
    UPDATE request_school rs SET status = t.status FROM t WHERE rs.request_id = t.id
), history AS (
    INSERT INTO request_history (request_id, action, by, at) SELECT t.id, $6, $7, $8 FROM t
)
""" + outbox_insert(_EVENTS)

OF_REQUESTER_FOR_UPDATE = f"SELECT {REQUEST_COLUMNS} FROM request r WHERE r.requester_id = $1 FOR UPDATE"
SAVE_REQUESTER = ("UPDATE request SET requester_name = $2, school_ids = $3, appears_applied = $4, version = $5 "
                  "WHERE id = $1")
DELETE_SCHOOLS = "DELETE FROM request_school WHERE request_id = $1"
INSERT_SCHOOLS = """INSERT INTO request_school (request_id, school_id, district_id, status, submitted_at)
SELECT $1, sid, $2, $3, $4 FROM unnest($5::text[]) AS sid"""


class SubmissionContext(NamedTuple):
    """What a submission is decided with, read in one statement for a whole group."""

    requester: Requester | None          # None: the directory does not know the caller
    policy: DistrictPolicy
    existing_id: UUID | None             # a request written earlier with the same Idempotency-Key
    existing_fingerprint: str | None     # the body of that earlier request, hashed


class NewRequest(NamedTuple):
    request: ProfileUpdateRequest  # holding its RequestSubmitted event
    by: str
    idempotency_key: str | None
    fingerprint: str | None
    correlation_id: str | None


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


def _context_of(row) -> SubmissionContext:
    requester = None
    if row["user_id"] is not None:
        requester = Requester(
            id=row["user_id"], district_id=row["district_id"], given_name=row["given_name"],
            family_name=row["family_name"], school_ids=tuple(row["school_ids"]), active=row["active"],
            current={f: row[f] for f in FIELDS},
        )
    if row["profile_update_requests_enabled"] is None:
        policy = DistrictPolicy()  # no settings received yet: the defaults (feature off)
    else:
        policy = DistrictPolicy(row["profile_update_requests_enabled"], row["contact_details_auto_update"])
    return SubmissionContext(requester, policy, row["existing_id"], row["idempotency_fingerprint"])


def _new_row(row: NewRequest) -> tuple:
    r = row.request
    (event_id,), (event_name,), (payload,), (correlation_id,) = outbox_rows(r.events, row.correlation_id)
    return (r.id, r.requester_id, r.district_id, json.dumps(changes_json(r.changes)), r.note, r.submitted_at,
            row.idempotency_key, row.fingerprint, row.by, event_id, event_name, payload, correlation_id)


class RequestRepository:
    """Requests over one connection (inside a unit of work, or alone for a submission's statements)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def submission_contexts(self, keys: Sequence[tuple[UUID, str, str | None]]) -> list[SubmissionContext]:
        """The context of each (user id, district id, Idempotency-Key) triple, in the same order."""
        if len(keys) == 1:
            rows = await self._conn.fetch(CONTEXT_ONE, *keys[0])
        else:
            rows = await self._conn.fetch(CONTEXTS_MANY, *([k[n] for k in keys] for n in range(3)))
        return [_context_of(row) for row in rows]

    async def insert_submitted(self, rows: Sequence[NewRequest]) -> set[UUID]:
        """Write the requests and their events in one statement; the ids written. A missing id lost
        to a concurrent or earlier submission with the same Idempotency-Key (its event is not written)."""
        columns = [_new_row(r) for r in rows]
        if len(columns) == 1:
            written = await self._conn.fetch(INSERT_ONE, *columns[0])
        else:
            written = await self._conn.fetch(INSERT_MANY, *(list(c) for c in zip(*columns, strict=True)))
        return {row["id"] for row in written}

    async def load_for_update(self, request_id: UUID) -> ProfileUpdateRequest | None:
        row = await self._conn.fetchrow(SELECT_FOR_UPDATE, request_id)
        return None if row is None else row_to_request(row)

    async def save_transition(self, request: ProfileUpdateRequest, *, action: str, by: str, at: datetime,
                              events: Sequence[Event]) -> None:
        """Save a Mark as Done / Restore with its history entry, and write `events` to the outbox,
        in one statement."""
        await self._conn.execute(
            SAVE_TRANSITION, request.id, request.status, request.done_at, request.done_by, request.version,
            action, by, at, *outbox_rows(events))

    async def load_many_for_update(self, request_ids: Sequence[UUID]) -> list[ProfileUpdateRequest]:
        """The requests of `request_ids` that exist, locked (in id order)."""
        return [row_to_request(r) for r in await self._conn.fetch(SELECT_MANY_FOR_UPDATE, list(request_ids))]

    async def save_transitions(self, requests: Sequence[ProfileUpdateRequest], *, action: str, by: str,
                               at: datetime) -> None:
        """Save the same transition of several requests, a history entry each, and their events, in
        one statement."""
        await self._conn.execute(
            SAVE_TRANSITIONS, [r.id for r in requests], [r.status for r in requests],
            [r.done_at for r in requests], [r.done_by for r in requests], [r.version for r in requests],
            action, by, at, *outbox_rows([e for r in requests for e in r.events]))

    async def of_requester_for_update(self, requester_id: UUID) -> list[ProfileUpdateRequest]:
        return [row_to_request(r) for r in await self._conn.fetch(OF_REQUESTER_FOR_UPDATE, requester_id)]

    async def save_requester_refresh(self, request: ProfileUpdateRequest, *, schools_changed: bool) -> None:
        """Save the requester's name and schools and the appears-applied flag of `request`."""
        await self._conn.execute(SAVE_REQUESTER, request.id, request.requester_name, request.school_ids,
                                 request.appears_applied, request.version)
        if schools_changed:
            await self._conn.execute(DELETE_SCHOOLS, request.id)
            if request.school_ids:
                await self._conn.execute(INSERT_SCHOOLS, request.id, request.district_id, request.status,
                                         request.submitted_at, request.school_ids)

    async def page(self, *, after: UUID | None, district_id: str | None, limit: int) -> list[ProfileUpdateRequest]:
        """Requests by id (of one district, or all), the `limit` after `after`."""
        conditions, params = [], []
        if district_id is not None:
            params.append(district_id)
            conditions.append(f"r.district_id = ${len(params)}")
        if after is not None:
            params.append(after)
            conditions.append(f"r.id > ${len(params)}")
        params.append(limit)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        rows = await self._conn.fetch(
            f"SELECT {REQUEST_COLUMNS} FROM request r {where}ORDER BY r.id LIMIT ${len(params)}", *params)
        return [row_to_request(r) for r in rows]
