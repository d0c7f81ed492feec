"""The roster import pipeline: start a run, stream the export into staging tables, apply it in one
transaction, record the outcome.

    started = await pipeline.begin("springfield", source="upload", source_name="roster.zip")
    outcome = await pipeline.execute(started, path)

`begin` returns as soon as the run is recorded (the API answers 202 then); `execute` does the
work on the run's own connection, held from `begin` to the end of the run (its advisory lock says
the run is alive; its temporary tables hold the staged rows). A crash at any point before COMMIT
leaves the directory as it was; the orphaned run is failed by the next sweep (run_control.py). A
run that outlives `import_max_seconds` or is cancelled is stopped and failed the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import time
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID, uuid4

import asyncpg
from pur_contracts import SisSyncCompleted, SyncCounts
from pur_kit.logging import current_correlation_id, get_logger
from pur_kit.uow import Database, write_events

from ..adapters import roster_apply
from ..adapters.directory_repo import SettingsProjection
from ..adapters.repositories import Repositories
from ..adapters.roster_source import NULL, ErrorLog, RosterSource, RosterStructureError
from ..adapters.run_store import ImportRuns, Pickup, RunAlreadyActive
from ..config import Settings
from ..domain.sync_rules import Counts, mass_deactivation_refusal
from ..domain.text import printable
from .run_control import INTERRUPTED, ImportStopped, RunControl, failed_run, sweep_orphans, timed_out, watch_for_cancel

log = get_logger(__name__)

BATCH_ROWS = 5000
MAX_WARNINGS = 100
Progress = Callable[[str, int, int | None], Awaitable[None] | None]


class ImportFailed(Exception):
    """The run cannot be applied; the message is shown to the operator as is."""

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file


@dataclass
class StartedRun:
    run_id: UUID
    district_id: str
    forced: bool
    conn: asyncpg.Connection
    release: Callable[[], Awaitable[None]]  # give the connection back: the run is no longer owned
    correlation_id: str | None = None
    control: RunControl = field(default_factory=RunControl)


@dataclass
class RunOutcome:
    run_id: UUID
    status: str
    counts: Counts = field(default_factory=Counts)
    failure: str | None = None
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class ImportPipeline:
    """Runs imports on a pool of its own (`db`), apart from the service's: its connections are held
    for a whole run, keep temporary tables in memory (`temp_buffers`, set when they connect: the
    default 8 MB spills at ~30,000 users) and allow statements as long as the run itself.

    A run's session state (its advisory lock, its temporary tables, across several transactions)
    cannot live behind a transaction pooler: this pool connects to PostgreSQL itself
    (`database_direct_url`), and a service behind a pooler without one is refused at start."""

    def __init__(self, settings: Settings, on_events_committed: Callable[[], None] = lambda: None) -> None:
        if settings.direct_url is None:
            raise ValueError(f"SIS_SYNC_DATABASE_POOLER={settings.database_pooler} needs SIS_SYNC_DATABASE_DIRECT_URL: "
                             "import runs hold a session (advisory lock, temporary tables) a pooler cannot keep")
        self.settings = settings
        self.db: Database[Repositories] = Database(
            _with_server_setting(settings.direct_url, "temp_buffers", "128MB"), settings.import_pool_size,
            consumer="sis_sync.main", repositories=Repositories, on_events_committed=on_events_committed,
            command_timeout=settings.import_max_seconds)

    async def start(self) -> None:
        """Make the pool usable; it opens no connection until one is needed, so this can be called
        before every use (the kit's runtime starts only its own pool)."""
        await self.db.start()

    async def close(self) -> None:
        await self.db.close()

    async def begin(self, district_id: str, *, source: str, source_name: str | None = None,
                    forced: bool = False, pickup: Pickup | None = None) -> StartedRun:
        """Record a queued run (creating the district on its first import) and own it.

        Raises RunAlreadyActive when the district has a live run, and AlreadyPickedUp when `pickup`,
        the drop-folder export to import, has been claimed by another run (see ImportRuns.insert).
        """
        await self.start()
        held = contextlib.AsyncExitStack()
        conn = await held.enter_async_context(self.db.acquire())
        runs = ImportRuns(conn)
        run_id = uuid4()
        source_name = printable(source_name) if source_name else None  # a client's or a file system's name
        try:
            await runs.own(run_id)
            try:
                await runs.insert(run_id, district_id, source=source, source_name=source_name, forced=forced,
                                  pickup=pickup)
            except RunAlreadyActive:
                if not await sweep_orphans(self.db, district_id):
                    raise
                await runs.insert(run_id, district_id, source=source, source_name=source_name, forced=forced,
                                  pickup=pickup)
        except BaseException:
            await held.aclose()
            raise
        log.info("sis_import_queued", run_id=str(run_id), district_id=district_id, source=source, forced=forced)
        return StartedRun(run_id, district_id, forced, conn, held.aclose, current_correlation_id() or str(run_id))

    async def execute(self, run: StartedRun, source: Path | bytes, progress: Progress | None = None) -> RunOutcome:
        """Do the run; never raises for a bad roster (the run is failed instead)."""
        errors = ErrorLog(cap=self.settings.stored_errors_cap)
        timings = _Timings()
        control = run.control
        deadline = asyncio.get_running_loop().call_later(
            self.settings.import_max_seconds, control.stop, timed_out(self.settings.import_max_seconds))
        watcher = asyncio.create_task(watch_for_cancel(
            self.db, run.run_id, control, self.settings.cancel_poll_seconds))
        try:
            await ImportRuns(run.conn).mark_running(run.run_id)
            # Its own task, so that a stop cancels the work and not the caller.
            work = asyncio.ensure_future(self._import(run, source, errors, progress, timings))
            control.attach(work)
            counts = await work
        except ImportFailed as exc:
            return await self._fail(run, exc.message, errors, exc.file)
        except ImportStopped as exc:
            return await self._fail(run, exc.reason, errors)
        except asyncio.CancelledError:
            if control.reason is not None and not asyncio.current_task().cancelling():
                return await self._fail(run, control.reason, errors)
            with contextlib.suppress(Exception):  # the process is stopping
                await asyncio.shield(self._fail(run, INTERRUPTED, errors))
            raise
        except Exception as exc:  # an unexpected failure must still end the run
            log.exception("sis_import_crashed", run_id=str(run.run_id), error=type(exc).__name__)
            return await self._fail(run, f"internal error ({type(exc).__name__}); nothing was changed", errors)
        finally:
            deadline.cancel()
            watcher.cancel()
            with contextlib.suppress(Exception):
                await roster_apply.drop_staging(run.conn)
            with contextlib.suppress(Exception):
                await run.release()
        log.info("sis_import_succeeded", run_id=str(run.run_id), district_id=run.district_id,
                 seconds=timings.total(), timings=timings.steps, **counts.as_dict())
        return RunOutcome(run.run_id, "succeeded", counts, None, errors.items, errors.total, timings.steps)

    async def _fail(self, run: StartedRun, message: str, errors: ErrorLog, file: str | None = None) -> RunOutcome:
        items = [{"file": file, "line": None, "message": message}, *errors.items][: self.settings.stored_errors_cap]
        with contextlib.suppress(Exception):
            if run.conn.is_in_transaction():
                await run.conn.execute("ROLLBACK")
        try:
            async with run.conn.transaction():
                district_id = await ImportRuns(run.conn).mark_failed(
                    run.run_id, message, SyncCounts().model_dump(), errors=items, error_count=errors.total + 1)
                if district_id is not None:
                    await write_events(run.conn, [failed_run(district_id, run.run_id)], run.correlation_id)
            self.db.events_committed()
        except Exception as exc:  # the sweep fails it later
            log.warning("sis_import_fail_not_recorded", run_id=str(run.run_id), error=type(exc).__name__)
        log.warning("sis_import_failed", run_id=str(run.run_id), district_id=run.district_id, reason=message[:200])
        return RunOutcome(run.run_id, "failed", Counts(), message, items, errors.total + 1)

    async def _import(self, run: StartedRun, source: Path | bytes, errors: ErrorLog, progress: Progress | None,
                      timings: _Timings) -> Counts:
        conn = run.conn

        async def report(phase: str, done: int, total: int | None) -> None:
            await ImportRuns(conn).set_progress(run.run_id, phase=phase, rows_done=done, rows_total=total)
            if progress is not None:
                result = progress(phase, done, total)
                if asyncio.iscoroutine(result):
                    await result

        roster = RosterSource(source, max_uncompressed_bytes=self.settings.max_uncompressed_bytes,
                              max_entries=self.settings.max_zip_entries, errors=errors,
                              max_rows=self.settings.import_max_rows, max_ratio=self.settings.max_zip_ratio,
                              checkpoint=run.control.checkpoint)
        with _structural_errors():
            await asyncio.to_thread(roster.__enter__)
        try:
            with _structural_errors():
                total = await asyncio.to_thread(roster.estimate_user_rows)
                timings.lap("count")
                await report("reading", 0, total)
                orgs = await asyncio.to_thread(roster.orgs)
                await roster_apply.create_staging(conn)
                await conn.copy_records_to_table("stage_school", records=orgs.schools,
                                                 columns=roster_apply.STAGE_SCHOOL_COLUMNS)
                if orgs.rejected_ids:
                    await conn.copy_records_to_table("stage_rejected_org", records=[(i,) for i in orgs.rejected_ids],
                                                     columns=("id",))
                staged, rows = await self._stage_users(conn, roster, orgs, report, total)
            timings.lap("read")
            await report("applying", rows, total)
            return await self._apply(run, roster, orgs.district_name, staged, errors, rows, timings)
        finally:
            await asyncio.to_thread(roster.__exit__, None, None, None)

    async def _stage_users(self, conn, roster: RosterSource, orgs, report, total) -> tuple[int, int]:
        """Parse batch n+1 in a worker thread while PostgreSQL loads batch n (two cores, both busy)."""
        batches = roster.user_batches(orgs, BATCH_ROWS)
        staged = rows = 0
        pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
        try:
            while (batch := await pending) is not None:
                pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
                if batch.staged:
                    await conn.copy_to_table("stage_user", source=io.BytesIO(batch.csv_bytes), format="csv",
                                             null=NULL, columns=roster_apply.STAGE_USER_COLUMNS)
                    staged += batch.staged
                if batch.rejected:
                    await conn.copy_records_to_table("stage_rejected", records=[(r,) for r in batch.rejected],
                                                     columns=("sis_id",))
                rows = batch.rows_read
                await report("reading", rows, total)
        finally:
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending  # the thread finishes its batch; the generator must not run twice at once
        return staged, rows

    async def _apply(self, run: StartedRun, roster: RosterSource, district_name: str | None, staged: int,
                     errors: ErrorLog, rows: int, timings: _Timings) -> Counts:
        conn, district_id, cid = run.conn, run.district_id, run.correlation_id
        async with conn.transaction():
            await roster_apply.lock_district(conn, district_id, district_name)
            auto_update = await SettingsProjection(conn).contact_auto_update(district_id)
            plan = await roster_apply.plan_users(conn, district_id, staged=staged, bulk=roster.users_bulk,
                                                 auto_update=auto_update)
            timings.lap("plan")
            refusal = mass_deactivation_refusal(plan.active_users, plan.deactivations,
                                                self.settings.deactivation_threshold, run.forced)
            if refusal:
                raise ImportFailed(refusal, "users.csv")
            await roster_apply.apply_schools(conn, district_id, bulk=roster.orgs_bulk, correlation_id=cid)
            changes = await roster_apply.apply_users(conn, district_id, plan, auto_update=auto_update,
                                                     correlation_id=cid)
            timings.lap("write")
            counts = Counts(
                created=changes.created,
                updated=changes.changed - plan.marked,
                unchanged=staged - changes.created - changes.changed,
                deactivated=plan.marked + changes.deactivated_missing,
                rejected=errors.total,
            )
            await ImportRuns(conn).mark_succeeded(run.run_id, counts=counts.as_dict(), errors=errors.items,
                                                  error_count=errors.total, rows_done=rows,
                                                  warnings=roster.warnings[:MAX_WARNINGS])
            await write_events(conn, [SisSyncCompleted(
                district_id=district_id, run_id=run.run_id, status="succeeded",
                counts=SyncCounts(**counts.as_dict()))], cid)
            run.control.committing = True  # from here on a stop comes too late
        self.db.events_committed()
        timings.lap("commit")
        if changes.created + changes.changed > 10_000:
            await conn.execute("ANALYZE directory_user")  # fresh statistics for the next run's plans
        return counts


def _with_server_setting(url: str, name: str, value: str) -> str:
    """The database URL whose connections start with `name` set to `value` (asyncpg takes the
    URL's query parameters as server settings)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), (name, value)])))


class _Timings:
    """Seconds per pipeline step, for the log line and the benchmark."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._started = self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = round(now - self._last, 3)
        self._last = now

    def total(self) -> float:
        return round(time.perf_counter() - self._started, 2)


@contextlib.contextmanager
def _structural_errors():
    """Anything wrong with the export's structure fails the run with a readable message."""
    try:
        yield
    except RosterStructureError as exc:
        raise ImportFailed(str(exc)) from None
    except zipfile.BadZipFile as exc:
        raise ImportFailed(f"not a valid zip file ({exc})") from None
    except UnicodeDecodeError:
        raise ImportFailed("a file of the export is not UTF-8 text") from None
    except csv.Error as exc:
        raise ImportFailed(f"malformed CSV: {exc}") from None
