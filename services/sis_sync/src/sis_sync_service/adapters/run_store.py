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

from dataclasses import dataclass
from uuid import UUID

import asyncpg

LOCK_CLASS = 73_400  # first key of the two-int advisory lock space, reserved for import runs
ACTIVE = ("queued", "running")


class RunAlreadyActive(Exception):
    """The district already has a queued or running import."""

    def __init__(self, district_id: str) -> None:
        super().__init__(f"an import for district {district_id!r} is already queued or running")
        self.district_id = district_id


class AlreadyPickedUp(Exception):
    """The drop-folder export has been taken by another run (of this process or another replica)."""

    def __init__(self, district_id: str) -> None:
        super().__init__(f"this export of district {district_id!r} has already been picked up")
        self.district_id = district_id


@dataclass(frozen=True)
class Pickup:
    """A drop-folder export, claimed in the same transaction as the run that imports it."""

    fingerprint: str
    file_name: str


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
                     forced: bool, pickup: Pickup | None = None) -> None:
        """Create the district if new and the queued run; RunAlreadyActive if one is active.

        With `pickup`, the run also claims that drop-folder export, in the same transaction:
        AlreadyPickedUp (and no run) when another run has claimed it. Replicas scan the same folder;
        a look at `picked_up` beforehand can be stale by the time the run is inserted (the other
        replica's run may even have ended, freeing the district's slot), this cannot."""
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
            if pickup is not None and not await self._claim(district_id, pickup, run_id):
                raise AlreadyPickedUp(district_id)  # rolls the run back: nothing is recorded

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

    async def picked_up(self, exports: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (district, fingerprint) exports have been picked up already (one query)."""
        rows = await self.conn.fetch(
            """SELECT p.district_id, p.fingerprint FROM drop_pickup p
               JOIN unnest($1::text[], $2::text[]) AS e(district_id, fingerprint) USING (district_id, fingerprint)""",
            [d for d, _ in exports], [f for _, f in exports])
        return {(r["district_id"], r["fingerprint"]) for r in rows}

    async def _claim(self, district_id: str, pickup: Pickup, run_id: UUID) -> bool:
        return await self.conn.fetchval(
            """INSERT INTO drop_pickup (district_id, fingerprint, file_name, run_id) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING RETURNING true""",
            district_id, pickup.fingerprint, pickup.file_name, run_id) is not None
