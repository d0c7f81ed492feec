"""Import-run rows, cancel requests, drop-folder pickups, and the advisory lock that marks a run as
owned by a live process.

Each run is worked on one dedicated connection holding a session-level advisory lock keyed by the
run id. PostgreSQL releases it when that connection dies (and the pool's reset releases it when the
run gives its connection back), so "queued/running and the lock is free" means "orphaned by a
crashed process": `unowned` tells exactly those, from any replica or the CLI at any time.
A session lock needs a session: behind a transaction pooler, the connection is one to PostgreSQL
itself (the import pool is built on `database_direct_url`, service_layer/imports.py).
"""
from __future__ import annotations

from uuid import UUID

import asyncpg

LOCK_CLASS = 73_400  # first key of the two-int advisory lock space, reserved for import runs
ACTIVE = ("queued", "running")


class RunAlreadyActive(Exception):
    """The district already has a queued or running import."""

    def __init__(self, district_id: str) -> None:
        super().__init__(f"an import for district {district_id!r} is already queued or running")
        self.district_id = district_id


class ImportRuns:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def own(self, run_id: UUID) -> None:
        """Hold the run's lock for as long as this connection (session) lives."""
        await self.conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", LOCK_CLASS, str(run_id))

    async def unowned(self, run_id: UUID) -> bool:
        """True when no live process owns the run; the lock is then held until this transaction ends."""
        return await self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1, hashtext($2))", LOCK_CLASS,
                                        str(run_id))

    async def insert(self, run_id: UUID, district_id: str, *, source: str, source_name: str | None,
                     forced: bool) -> None:
        """Create the district if new and the queued run; RunAlreadyActive if one is active."""
        async with self.conn.transaction():
            await self.conn.execute(
                "INSERT INTO district (id, name) VALUES ($1::text, $1::text) ON CONFLICT (id) DO NOTHING", district_id)
            try:
                await self.conn.execute(
                    """INSERT INTO sis_import_run (id, district_id, status, phase, source, source_name, forced)
                       VALUES ($1, $2, 'queued', 'queued', $3, $4, $5)""",
                    run_id, district_id, source, source_name, forced)
            except asyncpg.UniqueViolationError:
                raise RunAlreadyActive(district_id) from None

    async def active_ids(self, district_id: str | None = None) -> list[UUID]:
        rows = await self.conn.fetch(
            "SELECT id FROM sis_import_run WHERE status IN ('queued', 'running') AND ($1::text IS NULL OR district_id = $1)",
            district_id)
        return [r["id"] for r in rows]

    async def note_cancel(self, run_id: UUID, by: str) -> bool:
        """Note that a still-active run must stop (the first request wins). False if it has ended.
        Never waits for the run's row, which its apply transaction holds locked."""
        return bool(await self.conn.fetchval(
            """WITH run AS (SELECT id FROM sis_import_run WHERE id = $1 AND status IN ('queued', 'running')),
                    noted AS (INSERT INTO sis_import_cancel (run_id, requested_by) SELECT id, $2 FROM run
                              ON CONFLICT (run_id) DO NOTHING)
               SELECT count(*) > 0 FROM run""",
            run_id, by))

    async def cancel_requested_by(self, run_id: UUID) -> str | None:
        return await self.conn.fetchval("SELECT requested_by FROM sis_import_cancel WHERE run_id = $1", run_id)

    async def mark_running(self, run_id: UUID) -> None:
        await self.conn.execute(
            "UPDATE sis_import_run SET status = 'running', phase = 'reading', started_at = now() WHERE id = $1", run_id)

    async def set_progress(self, run_id: UUID, *, phase: str, rows_done: int, rows_total: int | None) -> None:
        await self.conn.execute(
            "UPDATE sis_import_run SET phase = $2, rows_done = $3, rows_total = coalesce($4, rows_total) WHERE id = $1",
            run_id, phase, rows_done, rows_total)

    async def mark_succeeded(self, run_id: UUID, *, counts: dict, errors: list[dict], error_count: int,
                             rows_done: int, warnings: list[str]) -> None:
        await self.conn.execute(
            """UPDATE sis_import_run SET status = 'succeeded', phase = 'done', counts = $2::jsonb, errors = $3::jsonb,
                   error_count = $4, rows_done = $5, rows_total = $5, warnings = $6::jsonb, finished_at = now()
               WHERE id = $1""",
            run_id, counts, errors, error_count, rows_done, warnings)

    async def mark_failed(self, run_id: UUID, failure: str, counts: dict, *, errors: list[dict] | None = None,
                          error_count: int | None = None) -> str | None:
        """Fail a still-active run; its district, or None if it was not active."""
        return await self.conn.fetchval(
            """UPDATE sis_import_run SET status = 'failed', phase = 'done', failure = $2,
                   errors = coalesce($3::jsonb, errors), error_count = coalesce($4, error_count),
                   counts = $5::jsonb, finished_at = now()
               WHERE id = $1 AND status IN ('queued', 'running')
               RETURNING district_id""",
            run_id, failure, errors, error_count, counts)

    async def status_of(self, run_id: UUID) -> asyncpg.Record | None:
        return await self.conn.fetchrow("SELECT status, failure FROM sis_import_run WHERE id = $1", run_id)

    async def picked_up(self, district_id: str, fingerprint: str) -> bool:
        return await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM drop_pickup WHERE district_id = $1 AND fingerprint = $2)",
            district_id, fingerprint)

    async def note_pickup(self, district_id: str, fingerprint: str, file_name: str, run_id: UUID) -> None:
        await self.conn.execute(
            "INSERT INTO drop_pickup (district_id, fingerprint, file_name, run_id) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING", district_id, fingerprint, file_name, run_id)
