"""Runs imports in the background of the service process, and the periodic housekeeping:
failing runs orphaned by a crashed process, and picking up exports from the drop folder."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

from pur_kit.logging import get_logger

from ..adapters.drop_folder import newest_exports
from ..adapters.run_store import ImportRuns, RunAlreadyActive
from ..adapters.spool import remove_stale_spools
from ..config import Settings
from .imports import ImportPipeline, RunOutcome, StartedRun
from .run_control import sweep_orphans

log = get_logger(__name__)
STOP_WAIT_SECONDS = 10.0  # a stopped run ends within a chunk's parse or a query's cancellation


class ImportRunner:
    def __init__(self, settings: Settings, pipeline: ImportPipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self._tasks: set[asyncio.Task] = set()
        self._runs: dict[UUID, tuple[StartedRun, asyncio.Task]] = {}

    async def start(self, district_id: str, path: Path, *, source: str, source_name: str | None, forced: bool,
                    delete_after: bool, on_begun: Callable[[StartedRun], Awaitable[None]] | None = None) -> StartedRun:
        """Record the run (RunAlreadyActive if the district has one) and work on it in the background.

        `on_begun` runs on the run's connection before the work starts (e.g. to note a drop-folder pickup).
        """
        started = None
        try:
            started = await self.pipeline.begin(district_id, source=source, source_name=source_name, forced=forced)
            if on_begun is not None:
                await on_begun(started)
        except BaseException:
            if started is not None:  # the run stays queued without an owner: the next sweep fails it
                await started.release()
            if delete_after:
                path.unlink(missing_ok=True)
            raise
        task = asyncio.create_task(self._run(started, path, delete_after), name=f"sis-import-{started.run_id}")
        self._tasks.add(task)
        self._runs[started.run_id] = (started, task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._runs.pop(started.run_id, None))
        return started

    async def stop(self, run_id: UUID, reason: str) -> bool:
        """Stop a run of this process and wait (briefly) until it has ended; False if it is not ours."""
        owned = self._runs.get(run_id)
        if owned is None:
            return False
        started, task = owned
        started.control.stop(reason)
        await asyncio.wait({task}, timeout=STOP_WAIT_SECONDS)
        return True

    async def _run(self, started: StartedRun, path: Path, delete_after: bool) -> RunOutcome:
        try:
            return await self.pipeline.execute(started, path)
        finally:
            if delete_after:
                path.unlink(missing_ok=True)

    async def wait_idle(self) -> None:
        """Until every background import has finished (shutdown does not wait: it calls `cancel_all`)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def sweep_orphans(self) -> int:
        await self.pipeline.start()
        swept = await sweep_orphans(self.pipeline.db)
        if swept:
            log.warning("sis_import_orphans_failed", runs=swept)
        await asyncio.to_thread(remove_stale_spools, self.settings.upload_dir)
        return swept

    async def pick_up_drop_folder(self) -> list[UUID]:
        """Start a run for each district's newest export not imported yet."""
        folder = self.settings.drop_folder
        if folder is None:
            return []
        started_runs = []
        for export in await asyncio.to_thread(newest_exports, folder, self.settings.drop_settle_seconds):
            await self.pipeline.start()
            async with self.pipeline.db.acquire() as conn:
                if await ImportRuns(conn).picked_up(export.district_id, export.fingerprint):
                    continue

            async def note_pickup(started: StartedRun, export=export) -> None:
                await ImportRuns(started.conn).note_pickup(export.district_id, export.fingerprint,
                                                           export.path.name, started.run_id)

            try:
                started = await self.start(export.district_id, export.path, source="drop_folder",
                                           source_name=export.path.name, forced=False, delete_after=False,
                                           on_begun=note_pickup)
            except RunAlreadyActive:
                continue  # try again next round
            started_runs.append(started.run_id)
        return started_runs

    async def sweep_loop(self) -> None:
        """Fail orphaned runs at start and periodically; on shutdown, stop the running imports too."""
        try:
            while True:
                await _logged(self.sweep_orphans)
                await asyncio.sleep(self.settings.stale_run_sweep_seconds)
        finally:
            with contextlib.suppress(Exception):
                await self.cancel_all()

    async def drop_folder_loop(self) -> None:
        if self.settings.drop_folder is None:
            return
        while True:
            await _logged(self.pick_up_drop_folder)
            await asyncio.sleep(self.settings.drop_poll_seconds)


async def _logged(action) -> None:
    try:
        await action()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # e.g. the database is down: try again next round
        log.warning("housekeeping_failed", action=action.__name__, error=type(exc).__name__)
