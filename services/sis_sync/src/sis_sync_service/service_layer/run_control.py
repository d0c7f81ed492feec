"""Stopping a run before it ends: its wall-clock deadline, or a cancel asked for by the API or CLI.

A stop cancels the asyncio task doing the run (an awaited query or COPY is abandoned, the apply
transaction rolls back) and makes the reader's checkpoint raise, so a worker thread busy parsing
gives up at its next chunk instead of running on. Once the run is committing the stop comes too
late and is ignored: the run has been applied.

A cancel is written to `sis_import_cancel` (not the run's row, which the apply transaction holds
locked), so it reaches the run whichever process owns it (a replica, the CLI): each run looks for
it every `cancel_poll_seconds` from a connection of its own. A run whose owner died is failed on
the spot (its advisory lock is free).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
from pur_kit.logging import get_logger

from ..adapters import run_store

log = get_logger(__name__)
NOTHING_CHANGED = "nothing was changed"


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


async def watch_for_cancel(connect: Callable[[], Awaitable[asyncpg.Connection]], run_id: UUID,
                           control: RunControl, interval: float) -> None:
    """Until the run stops: stop it once a cancel is noted for it. Sleeps first, so a run shorter
    than `interval` never opens the connection (a cancel from this process stops it directly)."""
    conn = None
    try:
        while True:
            await asyncio.sleep(interval)
            if control.reason is not None or control.committing:
                return
            try:
                if conn is None or conn.is_closed():
                    conn = await connect()
                by = await run_store.cancel_requested_by(conn, run_id)
                if by is not None:
                    control.stop(cancelled(by))
                    return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("sis_import_cancel_check_failed", run_id=str(run_id), error=type(exc).__name__)
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


async def request_cancel(conn: asyncpg.Connection, run_id: UUID, by: str,
                         stop_locally: Callable[[UUID, str], Awaitable[bool]] | None = None) -> bool:
    """Ask a live run to stop (False: it has already finished). A run of this process is stopped and
    awaited; one whose process died is failed here; another live process sees the request itself."""
    if not await run_store.request_cancel(conn, run_id, by):
        return False
    if stop_locally is not None and await stop_locally(run_id, cancelled(by)):
        return True
    await run_store.fail_if_orphaned(conn, run_id, cancelled(by))
    return True
