"""Import-run rows and the advisory lock that marks a run as owned by a live process.

Each run is worked on one dedicated asyncpg connection holding a session-level advisory lock keyed
by the run id. PostgreSQL releases it when that connection dies, so "queued/running and the lock is
free" means "orphaned by a crashed process": `sweep_orphaned_runs` fails exactly those, and is safe
to call from any replica or the CLI at any time.
"""
from __future__ import annotations

import json
from uuid import UUID

import asyncpg
from pur_contracts import SisSyncCompleted, SyncCounts

from .event_sql import add_events_asyncpg

LOCK_CLASS = 73_400  # first key of the two-int advisory lock space, reserved for import runs
ACTIVE = ("queued", "running")
INTERRUPTED = "the import was interrupted (its process stopped); nothing was changed"


class RunAlreadyActive(Exception):
    """The district already has a queued or running import."""

    def __init__(self, district_id: str) -> None:
        super().__init__(f"an import for district {district_id!r} is already queued or running")
        self.district_id = district_id


async def lock_run(conn: asyncpg.Connection, run_id: UUID) -> None:
    await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", LOCK_CLASS, str(run_id))


async def insert_run(conn: asyncpg.Connection, run_id: UUID, district_id: str, *, source: str,
                     source_name: str | None, forced: bool) -> None:
    """Create the district if new and the queued run; RunAlreadyActive if one is active."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO district (id, name) VALUES ($1::text, $1::text) ON CONFLICT (id) DO NOTHING", district_id)
        try:
            await conn.execute(
                """INSERT INTO sis_import_run (id, district_id, status, phase, source, source_name, forced)
                   VALUES ($1, $2, 'queued', 'queued', $3, $4, $5)""",
                run_id, district_id, source, source_name, forced)
        except asyncpg.UniqueViolationError:
            raise RunAlreadyActive(district_id) from None


async def sweep_orphaned_runs(conn: asyncpg.Connection, district_id: str | None = None) -> int:
    """Fail queued/running runs whose owning connection is gone. Returns how many."""
    rows = await conn.fetch(
        "SELECT id FROM sis_import_run WHERE status IN ('queued', 'running') AND ($1::text IS NULL OR district_id = $1)",
        district_id)
    swept = 0
    for row in rows:
        swept += await fail_if_orphaned(conn, row["id"], INTERRUPTED)
    return swept


async def fail_if_orphaned(conn: asyncpg.Connection, run_id: UUID, failure: str) -> int:
    """Fail the run if it is still active and no live process owns it. Returns 1 if it did."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, str(run_id)):
        return 0  # a live process owns it
    try:
        return await mark_failed(conn, run_id, failure)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", LOCK_CLASS, str(run_id))


async def request_cancel(conn: asyncpg.Connection, run_id: UUID, by: str) -> bool:
    """Note that a still-active run must stop (the first request wins). False if it has ended.
    Never waits for the run's row, which its apply transaction holds locked."""
    return bool(await conn.fetchval(
        """WITH run AS (SELECT id FROM sis_import_run WHERE id = $1 AND status IN ('queued', 'running')),
                noted AS (INSERT INTO sis_import_cancel (run_id, requested_by) SELECT id, $2 FROM run
                          ON CONFLICT (run_id) DO NOTHING)
           SELECT count(*) > 0 FROM run""",
        run_id, by))


async def cancel_requested_by(conn: asyncpg.Connection, run_id: UUID) -> str | None:
    return await conn.fetchval("SELECT requested_by FROM sis_import_cancel WHERE run_id = $1", run_id)


async def mark_running(conn: asyncpg.Connection, run_id: UUID) -> None:
    await conn.execute(
        "UPDATE sis_import_run SET status = 'running', phase = 'reading', started_at = now() WHERE id = $1", run_id)


async def set_progress(conn: asyncpg.Connection, run_id: UUID, *, phase: str, rows_done: int,
                       rows_total: int | None) -> None:
    await conn.execute(
        "UPDATE sis_import_run SET phase = $2, rows_done = $3, rows_total = coalesce($4, rows_total) WHERE id = $1",
        run_id, phase, rows_done, rows_total)


async def mark_succeeded(conn: asyncpg.Connection, run_id: UUID, *, counts: dict, errors: list[dict],
                         error_count: int, rows_done: int, warnings: list[str]) -> None:
    await conn.execute(
        """UPDATE sis_import_run SET status = 'succeeded', phase = 'done', counts = $2::jsonb, errors = $3::jsonb,
               error_count = $4, rows_done = $5, rows_total = $5, warnings = $6::jsonb, finished_at = now()
           WHERE id = $1""",
        run_id, json.dumps(counts), json.dumps(errors), error_count, rows_done, json.dumps(warnings))


async def mark_failed(conn: asyncpg.Connection, run_id: UUID, failure: str, *, errors: list[dict] | None = None,
                      error_count: int | None = None, correlation_id: str | None = None) -> int:
    """Fail a still-active run and announce it (sis.sync.completed, status failed); 1 if it was active."""
    async with conn.transaction():
        district_id = await conn.fetchval(
            """UPDATE sis_import_run SET status = 'failed', phase = 'done', failure = $2,
                   errors = coalesce($3::jsonb, errors), error_count = coalesce($4, error_count),
                   counts = $5::jsonb, finished_at = now()
               WHERE id = $1 AND status IN ('queued', 'running')
               RETURNING district_id""",
            run_id, failure, json.dumps(errors) if errors is not None else None, error_count,
            json.dumps(SyncCounts().model_dump()))
        if district_id is None:
            return 0
        event = SisSyncCompleted(district_id=district_id, run_id=run_id, status="failed", counts=SyncCounts())
        await add_events_asyncpg(conn, [event], correlation_id or str(run_id))
    return 1


async def status_of(conn: asyncpg.Connection, run_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT status, failure FROM sis_import_run WHERE id = $1", run_id)
