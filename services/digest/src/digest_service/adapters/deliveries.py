"""The statements of deliveries and runs (asyncpg): claims, outcomes, retries, stale claims and
the scheduled-run lease."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import asyncpg
from pur_contracts import Event
from pur_kit.uow import outbox_insert, outbox_rows

from ..domain.delivery import DueRetry, NextState

CLAIM = """INSERT INTO digest_delivery (id, district_id, recipient_id, local_date, status, attempts, request_ids,
        total_open, new_count, content_as_of, claimed_at, message_id, run_id, updated_at)
    VALUES ($1, $2, $3, $4, 'claimed', 1, $5, $6, $7, $8, $9, $10, $11, $9)
    ON CONFLICT (recipient_id, local_date) DO NOTHING RETURNING id"""
# A late answer still counts when the sweeper already called the claim 'unknown' meanwhile.
RECORD = """UPDATE digest_delivery SET status = $2, sent_at = $3, next_attempt_at = $4, last_error = $5,
        request_ids = $6, total_open = $7, new_count = $8, content_as_of = $9, updated_at = $10
    WHERE id = $1 AND status IN ('claimed', 'unknown') RETURNING id"""
# The outcome and its event in one statement: the event is written only when the outcome was.
# $11-$14: the outbox columns of the event (`outbox_rows`).
RECORD_WITH_EVENT = f"""WITH recorded AS ({RECORD}),
    events AS (SELECT * FROM unnest($11::text[], $12::text[], $13::text[], $14::text[])
               AS e(event_id, event_name, payload, correlation_id))
    {outbox_insert("events CROSS JOIN recorded")}"""
# Outcomes of a run, a batch in one statement (their events follow in the same unit of work,
# service_layer/recording.py).
RECORD_BATCH = """UPDATE digest_delivery d SET status = o.status, sent_at = o.sent_at,
        next_attempt_at = o.next_attempt_at, last_error = o.last_error, updated_at = $6
    FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
        AS o(id, status, sent_at, next_attempt_at, last_error)
    WHERE d.id = o.id AND d.status IN ('claimed', 'unknown') RETURNING d.id"""
CANCEL = """UPDATE digest_delivery SET status = 'cancelled', next_attempt_at = NULL, last_error = $2,
        updated_at = $3 WHERE id = $1 AND status = 'claimed'"""
CLAIM_DUE_RETRIES = """UPDATE digest_delivery d
    SET status = 'claimed', attempts = d.attempts + 1, claimed_at = $1, next_attempt_at = NULL, updated_at = $1
    WHERE d.id IN (SELECT id FROM digest_delivery WHERE status = 'retrying' AND next_attempt_at <= $1
                   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING d.id, d.district_id, d.recipient_id, d.local_date, d.attempts"""
MARK_STALE_UNKNOWN = """UPDATE digest_delivery
    SET status = 'unknown', last_error = 'claim timed out before its outcome was recorded', updated_at = $2
    WHERE status = 'claimed' AND claimed_at < $1 RETURNING id"""

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


class Deliveries:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim(self, *, delivery_id: UUID, district_id: str, recipient_id: UUID, local_date: date,
                    request_ids: Sequence[UUID], total_open: int, new_count: int, content_as_of: datetime,
                    now: datetime, message_id: str, run_id: UUID | None) -> bool:
        """Claim (recipient, local date); False when somebody already holds it."""
        row = await self.conn.fetchrow(CLAIM, delivery_id, district_id, recipient_id, local_date, list(request_ids),
                                       total_open, new_count, content_as_of, now, message_id, run_id)
        return row is not None

    async def record_outcome(self, delivery_id: UUID, state: NextState, *, now: datetime,
                             request_ids: Sequence[UUID], total_open: int, new_count: int,
                             content_as_of: datetime, event: Event | None) -> None:
        """A retry's outcome and the content it listed, with its `digest.sent` event when sent: one
        statement, a transaction of its own; nothing when the delivery is no longer open."""
        sent_at = now if state.status == "sent" else None
        args = (delivery_id, state.status.value, sent_at, state.next_attempt_at, state.error, list(request_ids),
                total_open, new_count, content_as_of, now)
        if event is None:
            await self.conn.execute(RECORD, *args)
        else:
            await self.conn.execute(RECORD_WITH_EVENT, *args, *outbox_rows([event]))

    async def record_outcomes(self, outcomes: Sequence[tuple[UUID, NextState, datetime]], now: datetime) -> set[UUID]:
        """Outcomes (delivery, state, when) of first attempts, whose content was stored with the
        claim, in one statement; the ids of those recorded (still open)."""
        rows = await self.conn.fetch(
            RECORD_BATCH,
            [o[0] for o in outcomes], [o[1].status.value for o in outcomes],
            [o[2] if o[1].status == "sent" else None for o in outcomes],
            [o[1].next_attempt_at for o in outcomes], [o[1].error for o in outcomes], now)
        return {r["id"] for r in rows}

    async def cancel(self, delivery_id: UUID, reason: str, now: datetime) -> None:
        await self.conn.execute(CANCEL, delivery_id, reason, now)

    async def claim_due_retries(self, now: datetime, limit: int) -> list[DueRetry]:
        """Claim again the retrying deliveries whose backoff is over (replicas split them)."""
        return [DueRetry(r["id"], r["district_id"], r["recipient_id"], r["local_date"], r["attempts"])
                for r in await self.conn.fetch(CLAIM_DUE_RETRIES, now, limit)]

    async def mark_stale_claims_unknown(self, cutoff: datetime, now: datetime) -> int:
        return len(await self.conn.fetch(MARK_STALE_UNKNOWN, cutoff, now))


class Runs:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def scheduled_run_done(self, district_id: str, local_date: date) -> bool:
        return bool(await self.conn.fetchval(SCHEDULED_RUN_DONE, district_id, local_date))

    async def acquire_scheduled(self, run_id: UUID, district_id: str, local_date: date, owner: str, now: datetime,
                                lease_until: datetime) -> UUID | None:
        """The run's id when this owner now holds the day's scheduled run, else None."""
        return await self.conn.fetchval(ACQUIRE_SCHEDULED, run_id, district_id, local_date, owner, now, lease_until)

    async def start_manual(self, run_id: UUID, district_id: str, local_date: date, owner: str,
                           now: datetime) -> None:
        await self.conn.execute(START_MANUAL, run_id, district_id, local_date, owner, now)

    async def renew(self, run_id: UUID, owner: str, lease_until: datetime) -> None:
        await self.conn.execute(RENEW, run_id, owner, lease_until)

    async def complete(self, run_id: UUID, now: datetime, sent: int, skipped: int, failed: int) -> None:
        await self.conn.execute(COMPLETE, run_id, now, sent, skipped, failed)
