"""Stopping a run before it ends: its wall-clock deadline, or a cancel asked for by the API or CLI.

A stop cancels the asyncio task doing the run (an awaited query or COPY is abandoned, the apply
transaction rolls back) and makes the reader's checkpoint raise, so a worker thread busy parsing
gives up at its next chunk instead of running on. Once the run is committing the stop comes too
late and is ignored: the run has been applied.

A cancel is written to `sis_import_cancel` (not the run's row, which the apply transaction holds
locked), so it reaches the run whichever process owns it (a replica, the CLI): each run looks for
it every `cancel_poll_seconds`. A run whose owner died is failed on the spot (its advisory lock is
free), as the periodic sweep fails every such orphan.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from uuid import UUID

import asyncpg
from pur_contracts import SisSyncCompleted, SyncCounts
from pur_kit.logging import correlation_id_var, get_logger
from pur_kit.uow import Database, UnitOfWork

from ..adapters.repositories import Repositories
from ..adapters.run_store import ImportRuns

log = get_logger(__name__)
NOTHING_CHANGED = "nothing was changed"
INTERRUPTED = "the import was interrupted (its process stopped); nothing was changed"


class ImportStopped(Exception):
    """Raised in a worker thread at its next checkpoint once the run has been stopped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunControl:
    """Why a run must stop, if it must. `stop` runs on the event loop; `checkpoint` in worker threads."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.committing = False
        self._task: asyncio.Future | None = None

    def attach(self, task: asyncio.Future) -> None:
        self._task = task
        if self.reason is not None:
            task.cancel()

    def stop(self, reason: str) -> bool:
        if self.reason is not None or self.committing:
            return False
        self.reason = reason
        if self._task is not None:
            self._task.cancel()
        return True

    def checkpoint(self) -> None:
        if self.reason is not None:
            raise ImportStopped(self.reason)


def timed_out(seconds: float) -> str:
    return (f"timed out: the import ran longer than {seconds:g} s (SIS_SYNC_IMPORT_MAX_SECONDS) and was "
            f"stopped; {NOTHING_CHANGED}")


def cancelled(by: str) -> str:
    return f"cancelled by {by}; {NOTHING_CHANGED}"


def failed_run(district_id: str, run_id: UUID) -> SisSyncCompleted:
    """The announcement of a run that failed (it changed nothing)."""
    return SisSyncCompleted(district_id=district_id, run_id=run_id, status="failed", counts=SyncCounts())


async def fail_if_orphaned(uow: UnitOfWork[Repositories], run_id: UUID, failure: str) -> bool:
    """Fail the run (and announce it) if it is still active and no live process owns it."""
    if not await uow.repos.runs.unowned(run_id):
        return False  # a live process owns it
    district_id = await uow.repos.runs.mark_failed(run_id, failure, SyncCounts().model_dump())
    if district_id is None:
        return False
    uow.publish(failed_run(district_id, run_id))
    return True


async def sweep_orphaned_run(uow: UnitOfWork[Repositories], run_id: UUID) -> bool:
    """Fail one run orphaned by a crashed process (False: a live process owns it, or it ended)."""
    with run_correlation(run_id):
        failed = await fail_if_orphaned(uow, run_id, INTERRUPTED)
        await uow.commit()
    return failed


async def sweep_orphans(db: Database[Repositories], district_id: str | None = None) -> int:
    """Fail the queued/running runs (of one district, or all) whose owning process is gone; how many."""
    async with db.acquire() as conn:
        run_ids = await ImportRuns(conn).active_ids(district_id)
    swept = 0
    for run_id in run_ids:
        async with db.unit_of_work() as uow:
            swept += await sweep_orphaned_run(uow, run_id)
    return swept


async def request_cancel(uow: UnitOfWork[Repositories], run_id: UUID, by: str,
                         stop_locally: Callable[[UUID, str], Awaitable[bool]] | None = None) -> bool:
    """Ask a live run to stop (False: it has already finished). A run of this process is stopped and
    awaited; one whose process died is failed here; another live process sees the request itself."""
    with run_correlation(run_id):
        if not await uow.repos.runs.note_cancel(run_id, by):
            return False
        if stop_locally is None or not await stop_locally(run_id, cancelled(by)):
            await fail_if_orphaned(uow, run_id, cancelled(by))
        await uow.commit()
    return True


@contextlib.contextmanager
def run_correlation(run_id: UUID) -> Iterator[None]:
    """Events about a run the caller does not own carry the run's id as their correlation id."""
    token = correlation_id_var.set(str(run_id))
    try:
        yield
    finally:
        correlation_id_var.reset(token)


async def watch_for_cancel(db: Database, run_id: UUID, control: RunControl, interval: float) -> None:
    """Until the run stops: stop it once a cancel is noted for it. Sleeps first, so a run shorter
    than `interval` never asks (a cancel from this process stops it directly)."""
    while True:
        await asyncio.sleep(interval)
        if control.reason is not None or control.committing:
            return
        try:
            async with db.acquire() as conn:
                by = await ImportRuns(conn).cancel_requested_by(run_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("sis_import_cancel_check_failed", run_id=str(run_id), error=type(exc).__name__)
            continue
        if by is not None:
            control.stop(cancelled(by))
            return
