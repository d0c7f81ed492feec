"""The scheduler loop: every tick, sweep dead claims, send due retries, run the districts whose
digest is due (domain/schedule.py) and not yet done today.

Time comes only from the injected clock, so tests can walk it through daylight-saving changes.
Several replicas may tick at once: the scheduled run of a (district, local date) is a row with a
lease (one replica does the work, another takes over if it dies), and each delivery is claimed
uniquely, so even two runs of the same district never send anything twice.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta
from uuid import uuid4

from pur_kit.logging import get_logger

from ..adapters.repositories import UnitOfWorkFactory
from ..domain.district import District
from ..domain.schedule import due_local_date
from .reports import RunReport
from .runner import Clock, DigestRunner

log = get_logger(__name__)


@dataclass
class TickReport:
    unknown: int = 0
    retried: int = 0
    runs: list[RunReport] = field(default_factory=list)


class Scheduler:
    def __init__(self, unit_of_work: UnitOfWorkFactory, runner: DigestRunner, *, clock: Clock, owner: str,
                 grace: timedelta, run_lease: timedelta, tick_seconds: float) -> None:
        self.unit_of_work = unit_of_work
        self.runner = runner
        self.clock = clock
        self.owner = owner
        self.grace = grace
        self.run_lease = run_lease
        self.tick_seconds = tick_seconds
        self._warned: set[str] = set()

    async def tick(self) -> TickReport:
        report = TickReport()
        report.unknown = await self.runner.sweep_stale_claims()
        report.retried = await self.runner.retry_due()
        async with self.unit_of_work() as uow:
            districts = await uow.repos.directory.digest_districts()
        for district in districts:
            if district.schedule is None:
                self._warn_once(district)
                continue
            local_date = due_local_date(self.clock(), district.schedule, self.grace)
            if local_date is not None and (run := await self._run_if_ours(district, local_date)) is not None:
                report.runs.append(run)
        return report

    async def _run_if_ours(self, district: District, local_date: date) -> RunReport | None:
        async with self.unit_of_work() as uow:
            if await uow.repos.runs.scheduled_run_done(district.district_id, local_date):
                return None
            now = self.clock()
            run_id = await uow.repos.runs.acquire_scheduled(uuid4(), district.district_id, local_date, self.owner,
                                                            now, now + self.run_lease)
            await uow.commit()
        if run_id is None:
            return None  # another replica holds the lease
        return await self.runner.run(district.district_id, local_date, scheduled_run_id=run_id)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database outage must not end the loop
                log.warning("digest_tick_failed", error=type(exc).__name__)
            await asyncio.sleep(self.tick_seconds)

    def _warn_once(self, district: District) -> None:
        if district.district_id not in self._warned:
            self._warned.add(district.district_id)
            log.warning("digest_schedule_invalid", district_id=district.district_id, problem=district.problem)
