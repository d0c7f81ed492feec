"""Runs imports in the background of the service process, at most `max_concurrent_imports` at once,
and the periodic housekeeping: failing runs orphaned by a crashed process, and picking up exports
from the drop folder.

Replicas share the drop folder and the database. A pass starts runs only while this process has
room and leaves the other exports for a later pass, of this replica or another: so a burst of exports
spreads over the replicas instead of piling into the one whose pass saw them first. No export is
started twice: a run claims its export in the transaction that records it (ImportRuns.insert).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from pur_kit.logging import get_logger

from ..adapters.drop_folder import DroppedExport, newest_exports
from ..adapters.run_store import AlreadyPickedUp, ImportRuns, Pickup, RunAlreadyActive
from ..adapters.spool import remove_stale_spools
from ..config import Settings
from .imports import ImportPipeline, RunOutcome, StartedRun
from .run_control import sweep_orphans

log = get_logger(__name__)
STOP_WAIT_SECONDS = 10.0  # a stopped run ends within a chunk's parse or a query's cancellation


class ImportCapacityFull(Exception):
    """This process already works on as many runs as it may (SIS_SYNC_MAX_CONCURRENT_IMPORTS)."""

    reason = "import_capacity"
    retry_after = 5  # seconds: a run ends within seconds to minutes, or another replica has room

    def __init__(self, limit: int) -> None:
        super().__init__(f"this instance is running {limit} imports, its most at once "
                         "(SIS_SYNC_MAX_CONCURRENT_IMPORTS); retry shortly")
        self.limit = limit


@dataclass
class Slot:
    """One of this process's places for a run (`ImportRunner.slot`)."""

    run_has_it: bool = False


@dataclass(frozen=True)
class DropFolderPass:
    started: list[UUID] = field(default_factory=list)
    left: int = 0  # exports not imported yet that this pass left for lack of room in this process


class ImportRunner:
    def __init__(self, settings: Settings, pipeline: ImportPipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.capacity = settings.max_concurrent_imports
        self._slots_taken = 0  # taken synchronously (before any await), so never more than the cap
        self._run_ended = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._runs: dict[UUID, tuple[StartedRun, asyncio.Task]] = {}

    @property
    def has_room(self) -> bool:
        return self._slots_taken < self.capacity

    def check_room(self) -> None:
        if not self.has_room:
            raise ImportCapacityFull(self.capacity)

    @contextlib.contextmanager
    def slot(self) -> Iterator[Slot]:
        """A place for one run, taken now (ImportCapacityFull when none is free). `start(slot=...)`
        hands it to the run, which gives it back when it ends; otherwise it is given back on exit.

        An upload takes it before it is read: a refused one costs nothing (and its retry may reach
        a replica with room), and no more uploads than runs wait on this process's disk."""
        self.check_room()
        slot = Slot()
        self._slots_taken += 1
        try:
            yield slot
        finally:
            if not slot.run_has_it:
                self._slots_taken -= 1  # no run ended: a waiting drop-folder pass need not wake

    async def start(self, district_id: str, path: Path, *, source: str, source_name: str | None, forced: bool,
                    delete_after: bool, pickup: Pickup | None = None, slot: Slot | None = None) -> StartedRun:
        """Record the run and work on it in the background, in `slot` or in one it takes.

        Raises, recording nothing: ImportCapacityFull when this process is at its cap,
        RunAlreadyActive when the district has a live run, AlreadyPickedUp when `pickup` (the
        drop-folder export) has been claimed by another run.
        """
        try:
            with contextlib.ExitStack() as stack:
                if slot is None:
                    slot = stack.enter_context(self.slot())
                started = await self.pipeline.begin(district_id, source=source, source_name=source_name,
                                                    forced=forced, pickup=pickup)
                slot.run_has_it = True
        except BaseException:
            if delete_after:
                path.unlink(missing_ok=True)
            raise
        task = asyncio.create_task(self._run(started, path, delete_after), name=f"sis-import-{started.run_id}")
        self._tasks.add(task)
        self._runs[started.run_id] = (started, task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._runs.pop(started.run_id, None))
        task.add_done_callback(self._free_slot)
        return started

    def _free_slot(self, _: asyncio.Task) -> None:
        self._slots_taken -= 1
        self._run_ended.set()

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

    async def pick_up_drop_folder(self) -> DropFolderPass:
        """Start a run for each district's newest export not imported yet, while this process has room."""
        folder = self.settings.drop_folder
        if folder is None:
            return DropFolderPass()
        await self.pipeline.start()
        exports = await self._not_picked_up(
            await asyncio.to_thread(newest_exports, folder, self.settings.drop_settle_seconds))
        started_runs = []
        for i, export in enumerate(exports):
            try:
                started = await self.start(export.district_id, export.path, source="drop_folder",
                                           source_name=export.path.name, forced=False, delete_after=False,
                                           pickup=Pickup(export.fingerprint, export.path.name))
            except ImportCapacityFull:
                left = len(exports) - i
                log.info("sis_drop_folder_at_capacity", started=len(started_runs), left=left, limit=self.capacity)
                return DropFolderPass(started_runs, left)
            except RunAlreadyActive:
                continue  # the district is busy (an upload, say): try again next round
            except AlreadyPickedUp:
                continue  # another replica's pass took it since we looked
            started_runs.append(started.run_id)
        return DropFolderPass(started_runs)

    async def _not_picked_up(self, exports: list[DroppedExport]) -> list[DroppedExport]:
        if not exports:
            return []
        async with self.pipeline.db.acquire() as conn:
            taken = await ImportRuns(conn).picked_up([(e.district_id, e.fingerprint) for e in exports])
        return [e for e in exports if (e.district_id, e.fingerprint) not in taken]

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
        """A pass every `drop_poll_seconds`; after a pass that left exports for lack of room, the next
        pass comes as soon as one of this process's runs ends, so a freed slot is refilled at once."""
        if self.settings.drop_folder is None:
            return
        while True:
            self._run_ended.clear()
            done = await _logged(self.pick_up_drop_folder)
            if done is not None and done.left:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._run_ended.wait(), self.settings.drop_poll_seconds)
            else:
                await asyncio.sleep(self.settings.drop_poll_seconds)


async def _logged(action):
    """The action's result, or None when it failed (logged)."""
    try:
        return await action()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # e.g. the database is down: try again next round
        log.warning("housekeeping_failed", action=action.__name__, error=type(exc).__name__)
        return None
