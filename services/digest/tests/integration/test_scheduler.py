"""The scheduler driven by an injected clock: daylight-saving changes, catch-up after downtime."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import asyncio
import uuid

from pur_kit.db import asyncpg_dsn
from pur_kit.testing import wait_until


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def new_district() -> str:
    return f"d{uuid.uuid4().hex[:8]}"


# Local send time -> the UTC instants of its digests on three consecutive local days.
MARCH = (utc(2026, 3, 7, 5), utc(2026, 3, 10, 4), {           # Mar 7 00:00 EST .. Mar 10 00:00 EDT
    "07:00": [utc(2026, 3, 7, 12), utc(2026, 3, 8, 11), utc(2026, 3, 9, 11)],        # 23-hour day in between
    "02:30": [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)],   # Mar 8: no 02:30, runs at 03:00 EDT
    "01:30": [utc(2026, 3, 7, 6, 30), utc(2026, 3, 8, 6, 30), utc(2026, 3, 9, 5, 30)],
})
NOVEMBER = (utc(2026, 10, 31, 4), utc(2026, 11, 3, 5), {      # Oct 31 00:00 EDT .. Nov 3 00:00 EST
    "07:00": [utc(2026, 10, 31, 11), utc(2026, 11, 1, 12), utc(2026, 11, 2, 12)],    # 25-hour day in between
    "01:30": [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],  # first 01:30 (EDT)
    "02:30": [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)],
})


@pytest.mark.parametrize("period", [MARCH, NOVEMBER], ids=["spring_forward", "fall_back"])
async def test_new_york_districts_get_one_digest_per_local_day_at_the_local_time_across_dst(svc, period):
    start, end, expected = period
    svc.clock.set(start - timedelta(days=1))
    w, managers = svc.world, {}
    for local_time in expected:
        d = new_district()
        await w.settings(d, local_time=local_time, timezone="America/New_York", wait=False)
        managers[local_time] = await w.user(d, schools=[], email=f"m{local_time.replace(':', '')}@example.org",
                                            manager="district", wait=False)
        pupil = await w.user(d, schools=["s1"], role="student", wait=False)
        await w.settle()
        await w.request(pupil, submitted_at=start - timedelta(days=1), wait=False)
    await w.settle()
    svc.clock.set(start)
    while svc.clock() < end:                       # a tick every 15 minutes of local life
        await svc.runtime.parts.scheduler.tick()
        svc.clock.advance(timedelta(minutes=15))
    for local_time, instants in expected.items():
        sent_at = [parsedate_to_datetime(m["Date"]) for m in svc.mailbox.to(managers[local_time].email)]
        assert sent_at == instants, local_time


async def test_a_digest_missed_while_down_goes_out_within_the_grace_the_same_day_only(svc, cast):
    monday_0700 = utc(2026, 3, 9, 11)
    svc.clock.set(monday_0700 + timedelta(hours=5, minutes=30))          # back up at 12:30 local
    (run,) = (await svc.runtime.parts.scheduler.tick()).runs
    assert run.sent == 3 and run.local_date.isoformat() == "2026-03-09"
    svc.mailbox.messages.clear()
    svc.clock.set(utc(2026, 3, 10, 11) + timedelta(hours=6, minutes=15))  # Tuesday: down past the grace
    assert (await svc.runtime.parts.scheduler.tick()).runs == []
    svc.clock.set(utc(2026, 3, 11, 3, 0))                                 # 23:00 Tuesday: still not
    assert (await svc.runtime.parts.scheduler.tick()).runs == []
    svc.clock.set(utc(2026, 3, 11, 10, 59))                               # Wednesday 06:59: not yet
    assert (await svc.runtime.parts.scheduler.tick()).runs == []
    assert svc.mailbox.messages == []


async def test_the_scheduler_loop_runs_inside_the_service(digest_db, rabbitmq_url, topology, mailbox, harness):
    h = harness
    clock = h.FakeClock(utc(2026, 3, 9, 11, 1))
    settings = h.digest_settings(digest_db, rabbitmq_url, topology, mailbox.port, scheduler_enabled=True,
                                 scheduler_tick_seconds=0.05)
    world = h.World(rabbitmq_url, topology, asyncpg_dsn(digest_db), clock)
    try:
        async with h.running(settings, clock):
            d = new_district()
            manager = await world.user(d, schools=[], email="loop@example.org", manager="district")
            pupil = await world.user(d, schools=["s"], role="student")
            await world.request(pupil)
            await world.settings(d, local_time="07:00")   # enabled last: the first due tick has the request
            await wait_until(lambda: mailbox.to(manager.email), message="the scheduled digest")
            await asyncio.sleep(0.3)                       # several more ticks of the loop
        assert len(mailbox.to(manager.email)) == 1
    finally:
        await world.close()
