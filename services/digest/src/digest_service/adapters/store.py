"""The statements of digest runs (asyncpg): recipients, the selection, claims, outcomes, retries,
stale claims and the scheduled-run lease.

Selection is set-based, never "load every request, filter per person": the district's and each
school's count and oldest request come from an aggregate over an index, their newest N requests
from an index walk (`LIMIT`); service_layer/selection.py combines them per recipient scope.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import asyncpg
from pur_contracts import Event
from pur_kit.logging import current_correlation_id

from ..domain.delivery import NextState
from ..domain.digest import Recipient, RequestLine, ScopeView

# --- districts, schools, recipients --------------------------------------------------------

DISTRICT = """SELECT district_id, enabled, digest_enabled, digest_local_time, timezone
              FROM district_settings WHERE district_id = $1"""
DIGEST_DISTRICTS = """SELECT district_id, enabled, digest_enabled, digest_local_time, timezone
                      FROM district_settings WHERE enabled AND digest_enabled ORDER BY district_id"""
ALL_DISTRICTS = """SELECT district_id, enabled, digest_enabled, digest_local_time, timezone
                   FROM district_settings ORDER BY district_id"""
SCHOOL_NAMES = "SELECT id, name FROM school WHERE district_id = $1"

_RECIPIENT_COLUMNS = """
    u.id, u.district_id, u.email, u.given_name, u.family_name, u.manager_scope, u.manager_school_ids,
    (SELECT max(d.content_as_of) FROM digest_delivery d
      WHERE d.recipient_id = u.id AND d.status = 'sent') AS last_digest_at,
    EXISTS (SELECT 1 FROM digest_delivery d WHERE d.recipient_id = u.id AND d.local_date = $2) AS delivered"""
RECIPIENTS = f"""SELECT {_RECIPIENT_COLUMNS} FROM directory_user u
    WHERE u.district_id = $1 AND u.active AND u.manager_scope IS NOT NULL ORDER BY u.id"""
RECIPIENT = f"""SELECT {_RECIPIENT_COLUMNS} FROM directory_user u
    WHERE u.id = $1 AND u.active AND u.manager_scope IS NOT NULL"""


def _recipient(row) -> Recipient:
    return Recipient(
        id=row["id"], district_id=row["district_id"], email=row["email"], given_name=row["given_name"],
        family_name=row["family_name"], scope=row["manager_scope"],
        school_ids=tuple(row["manager_school_ids"] or ()), last_digest_at=row["last_digest_at"],
        delivered_on_date=row["delivered"],
    )


async def recipients(conn: asyncpg.Connection, district_id: str, local_date: date) -> list[Recipient]:
    return [_recipient(r) for r in await conn.fetch(RECIPIENTS, district_id, local_date)]


async def recipient(conn: asyncpg.Connection, recipient_id: UUID, local_date: date) -> Recipient | None:
    row = await conn.fetchrow(RECIPIENT, recipient_id, local_date)
    return _recipient(row) if row else None


async def school_names(conn: asyncpg.Connection, district_id: str) -> dict[str, str]:
    return {r["id"]: r["name"] for r in await conn.fetch(SCHOOL_NAMES, district_id)}


# --- the selection of one scope --------------------------------------------------------------

_LINE = "r.id, r.requester_name, r.school_ids, r.submitted_at, r.fields, r.has_note, r.appears_applied"
DISTRICT_TOTALS = """SELECT count(*) AS total, min(submitted_at) AS oldest
                     FROM request WHERE district_id = $1 AND status = 'new'"""
DISTRICT_NEWEST = f"""SELECT {_LINE} FROM request r WHERE r.district_id = $1 AND r.status = 'new'
                      ORDER BY r.submitted_at DESC, r.id DESC LIMIT $2"""
DISTRICT_NEW_SINCE = """SELECT count(*) FROM request
                        WHERE district_id = $1 AND status = 'new' AND submitted_at > $2"""
SCHOOL_TOTALS = """SELECT count(*) AS total, min(submitted_at) AS oldest, count(*) FILTER (WHERE shared) AS shared
                   FROM request_school WHERE district_id = $1 AND school_id = $2"""
SCHOOL_NEWEST = f"""SELECT {_LINE} FROM request_school rs JOIN request r ON r.id = rs.request_id
                    WHERE rs.district_id = $1 AND rs.school_id = $2
                    ORDER BY rs.submitted_at DESC, rs.request_id DESC LIMIT $3"""
# Requests at several of the given schools are counted once per school by the per-school totals:
# this is how many times too many (only `shared` rows can repeat).
SHARED_OVERLAP = """SELECT count(*) - count(DISTINCT request_id) FROM request_school
                    WHERE district_id = $1 AND school_id = ANY($2::text[]) AND shared"""
SCHOOLS_NEW_SINCE = """SELECT count(*) FILTER (WHERE NOT shared) + count(DISTINCT request_id) FILTER (WHERE shared)
                       FROM request_school
                       WHERE district_id = $1 AND school_id = ANY($2::text[]) AND submitted_at > $3"""


def _line(row) -> RequestLine:
    return RequestLine(
        id=row["id"], requester_name=row["requester_name"], school_ids=tuple(row["school_ids"]),
        submitted_at=row["submitted_at"], fields=tuple(row["fields"]), has_note=row["has_note"],
        appears_applied=row["appears_applied"],
    )


async def district_view(conn: asyncpg.Connection, district_id: str, limit: int) -> ScopeView:
    totals = await conn.fetchrow(DISTRICT_TOTALS, district_id)
    rows = await conn.fetch(DISTRICT_NEWEST, district_id, limit) if totals["total"] else []
    return ScopeView(totals["total"], totals["oldest"], tuple(_line(r) for r in rows))


async def school_view(conn: asyncpg.Connection, district_id: str, school_id: str, limit: int) -> ScopeView:
    totals = await conn.fetchrow(SCHOOL_TOTALS, district_id, school_id)
    rows = await conn.fetch(SCHOOL_NEWEST, district_id, school_id, limit) if totals["total"] else []
    return ScopeView(totals["total"], totals["oldest"], tuple(_line(r) for r in rows), shared=totals["shared"])


async def shared_overlap(conn: asyncpg.Connection, district_id: str, school_ids: Sequence[str]) -> int:
    return await conn.fetchval(SHARED_OVERLAP, district_id, list(school_ids))


async def count_new_since(conn: asyncpg.Connection, district_id: str, scope_key: tuple, since: datetime) -> int:
    if scope_key[0] == "district":
        return await conn.fetchval(DISTRICT_NEW_SINCE, district_id, since)
    return await conn.fetchval(SCHOOLS_NEW_SINCE, district_id, list(scope_key[1:]), since)


# --- deliveries ----------------------------------------------------------------------------

CLAIM = """INSERT INTO digest_delivery (id, district_id, recipient_id, local_date, status, attempts, request_ids,
        total_open, new_count, content_as_of, claimed_at, message_id, run_id, updated_at)
    VALUES ($1, $2, $3, $4, 'claimed', 1, $5, $6, $7, $8, $9, $10, $11, $9)
    ON CONFLICT (recipient_id, local_date) DO NOTHING RETURNING id"""
# A late answer still counts when the sweeper already called the claim 'unknown' meanwhile.
RECORD = """UPDATE digest_delivery SET status = $2, sent_at = $3, next_attempt_at = $4, last_error = $5,
        request_ids = $6, total_open = $7, new_count = $8, content_as_of = $9, updated_at = $10
    WHERE id = $1 AND status IN ('claimed', 'unknown') RETURNING id"""
RECORD_WITH_EVENT = f"""WITH recorded AS ({RECORD})
    INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id)
    SELECT $11, $12, $12, $13, $14 FROM recorded"""
# Outcomes of a run, many at a time: one transaction, one WAL flush and one outbox notification per
# batch (a transaction that notifies holds a database-wide lock through its commit).
RECORD_BATCH = """WITH outcome AS (
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
            AS o(id, status, sent_at, next_attempt_at, last_error)),
    recorded AS (
        UPDATE digest_delivery d SET status = o.status, sent_at = o.sent_at, next_attempt_at = o.next_attempt_at,
            last_error = o.last_error, updated_at = $6
        FROM outcome o WHERE d.id = o.id AND d.status IN ('claimed', 'unknown') RETURNING d.id)
    INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id)
    SELECT e.event_id, e.event_name, e.event_name, e.payload, $7
    FROM unnest($8::uuid[], $9::text[], $10::text[], $11::text[]) AS e(delivery_id, event_id, event_name, payload)
    JOIN recorded r ON r.id = e.delivery_id"""
CANCEL = """UPDATE digest_delivery SET status = 'cancelled', next_attempt_at = NULL, last_error = $2,
        updated_at = $3 WHERE id = $1 AND status = 'claimed'"""
CLAIM_DUE_RETRIES = """UPDATE digest_delivery d
    SET status = 'claimed', attempts = d.attempts + 1, claimed_at = $1, next_attempt_at = NULL, updated_at = $1
    WHERE d.id IN (SELECT id FROM digest_delivery WHERE status = 'retrying' AND next_attempt_at <= $1
                   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING d.id, d.district_id, d.recipient_id, d.local_date, d.attempts, d.message_id, d.run_id"""
MARK_STALE_UNKNOWN = """UPDATE digest_delivery
    SET status = 'unknown', last_error = 'claim timed out before its outcome was recorded', updated_at = $2
    WHERE status = 'claimed' AND claimed_at < $1 RETURNING id"""


async def claim(conn: asyncpg.Connection, *, delivery_id: UUID, district_id: str, recipient_id: UUID,
                local_date: date, request_ids: Sequence[UUID], total_open: int, new_count: int,
                content_as_of: datetime, now: datetime, message_id: str, run_id: UUID | None) -> bool:
    """Commit the claim of (recipient, local date); False when somebody already holds it."""
    row = await conn.fetchrow(CLAIM, delivery_id, district_id, recipient_id, local_date, list(request_ids),
                              total_open, new_count, content_as_of, now, message_id, run_id)
    return row is not None


async def record_outcome(conn: asyncpg.Connection, delivery_id: UUID, state: NextState, *, now: datetime,
                         request_ids: Sequence[UUID], total_open: int, new_count: int, content_as_of: datetime,
                         event: Event | None = None) -> None:
    """The attempt's outcome, and (when sent) its `digest.sent` outbox row: one statement, one transaction."""
    sent_at = now if state.status == "sent" else None
    args = (delivery_id, state.status.value, sent_at, state.next_attempt_at, state.error, list(request_ids),
            total_open, new_count, content_as_of, now)
    if event is None:
        await conn.execute(RECORD, *args)
    else:
        await conn.execute(RECORD_WITH_EVENT, *args, str(event.event_id), event.event_name,
                           event.model_dump_json(), current_correlation_id())


async def record_outcomes(conn: asyncpg.Connection,
                          outcomes: Sequence[tuple[UUID, NextState, datetime, Event | None]], now: datetime) -> None:
    """Outcomes (delivery, state, when, event) of first attempts, whose content was stored with the
    claim, and the `digest.sent` events of those sent, in one statement: each delivery's status and
    its event commit together."""
    events = [(delivery_id, event) for delivery_id, _, _, event in outcomes if event is not None]
    await conn.execute(
        RECORD_BATCH,
        [o[0] for o in outcomes], [o[1].status.value for o in outcomes],
        [o[2] if o[1].status == "sent" else None for o in outcomes],
        [o[1].next_attempt_at for o in outcomes], [o[1].error for o in outcomes], now,
        current_correlation_id(),
        [d for d, _ in events], [str(e.event_id) for _, e in events], [e.event_name for _, e in events],
        [e.model_dump_json() for _, e in events],
    )


async def cancel(conn: asyncpg.Connection, delivery_id: UUID, reason: str, now: datetime) -> None:
    await conn.execute(CANCEL, delivery_id, reason, now)


async def claim_due_retries(conn: asyncpg.Connection, now: datetime, limit: int) -> list:
    return await conn.fetch(CLAIM_DUE_RETRIES, now, limit)


async def mark_stale_claims_unknown(conn: asyncpg.Connection, cutoff: datetime, now: datetime) -> int:
    return len(await conn.fetch(MARK_STALE_UNKNOWN, cutoff, now))


# --- runs ----------------------------------------------------------------------------------

SCHEDULED_RUN_DONE = """SELECT status = 'completed' FROM digest_run
    WHERE district_id = $1 AND local_date = $2 AND trigger = 'schedule'"""
# Insert the day's scheduled run, or take it over when its holder's lease ran out (it died).
ACQUIRE_SCHEDULED = """INSERT INTO digest_run (id, district_id, local_date, trigger, status, owner, started_at,
        lease_until) VALUES ($1, $2, $3, 'schedule', 'running', $4, $5, $6)
    ON CONFLICT (district_id, local_date) WHERE trigger = 'schedule' DO UPDATE
        SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
        WHERE digest_run.status = 'running' AND digest_run.lease_until < EXCLUDED.started_at
    RETURNING id"""
START_MANUAL = """INSERT INTO digest_run (id, district_id, local_date, trigger, status, owner, started_at,
        lease_until) VALUES ($1, $2, $3, 'manual', 'running', $4, $5, $5)"""
RENEW = "UPDATE digest_run SET lease_until = $3 WHERE id = $1 AND owner = $2 AND status = 'running'"
COMPLETE = """UPDATE digest_run SET status = 'completed', finished_at = $2, sent = $3, skipped = $4, failed = $5
    WHERE id = $1"""


async def scheduled_run_done(conn: asyncpg.Connection, district_id: str, local_date: date) -> bool:
    return bool(await conn.fetchval(SCHEDULED_RUN_DONE, district_id, local_date))


async def acquire_scheduled_run(conn: asyncpg.Connection, run_id: UUID, district_id: str, local_date: date,
                                owner: str, now: datetime, lease_until: datetime) -> UUID | None:
    return await conn.fetchval(ACQUIRE_SCHEDULED, run_id, district_id, local_date, owner, now, lease_until)


async def start_manual_run(conn: asyncpg.Connection, run_id: UUID, district_id: str, local_date: date,
                           owner: str, now: datetime) -> None:
    await conn.execute(START_MANUAL, run_id, district_id, local_date, owner, now)


async def renew_run(conn: asyncpg.Connection, run_id: UUID, owner: str, lease_until: datetime) -> None:
    await conn.execute(RENEW, run_id, owner, lease_until)


async def complete_run(conn: asyncpg.Connection, run_id: UUID, now: datetime, sent: int, skipped: int,
                       failed: int) -> None:
    await conn.execute(COMPLETE, run_id, now, sent, skipped, failed)
