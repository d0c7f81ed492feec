"""At most one digest per person and local day, whatever replicas, restarts and crashes happen."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from digest_service.adapters.deliveries import Deliveries, Runs
from pur_kit.db import asyncpg_dsn
from pur_kit.testing import wait_until


MONDAY_0730_NY = datetime(2026, 3, 9, 11, 30, tzinfo=UTC)   # 07:30 EDT


async def populate(world, managers: int = 6) -> tuple[str, list]:
    d = f"d{uuid.uuid4().hex[:8]}"
    await world.settings(d, local_time="07:00", wait=False)
    await world.school(d, "s1", "School One", wait=False)
    people = [await world.user(d, schools=["s1"], email=f"m{i}@example.org", given=f"M{i}",
                               manager="district" if i % 2 else ["s1"], wait=False) for i in range(managers)]
    pupil = await world.user(d, schools=["s1"], role="student", wait=False)
    await world.settle()
    await world.request(pupil, submitted_at=MONDAY_0730_NY - timedelta(days=3))
    return d, people


async def deliveries(dsn: str, district: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT * FROM digest_delivery WHERE district_id = $1 ORDER BY local_date", district)
    finally:
        await conn.close()


async def test_two_workers_started_together_and_a_restart_send_one_digest_per_person_and_day(
        digest_db, rabbitmq_url, topology, mailbox, harness):
    h = harness
    clock = h.FakeClock(MONDAY_0730_NY)
    settings = h.digest_settings(digest_db, rabbitmq_url, topology, mailbox.port)
    world = h.World(rabbitmq_url, topology, asyncpg_dsn(digest_db), clock)
    try:
        async with h.running(settings, clock) as a, h.running(settings, clock) as b:
            district, managers = await populate(world)
            expected = {m.email: 1 for m in managers}
            # day 1: both schedulers find the district due at the same instant
            ticks = await asyncio.gather(a.runtime.parts.scheduler.tick(), b.runtime.parts.scheduler.tick())
            assert sum(len(t.runs) for t in ticks) == 1          # one took the run's lease
            assert mailbox.count_by_recipient() == expected
            # day 2: both are forced to run at once (no lease): the claims alone decide
            clock.advance(timedelta(days=1))
            reports = await asyncio.gather(a.runtime.parts.runner.run(district),
                                           b.runtime.parts.runner.run(district))
            assert sum(r.sent for r in reports) == len(managers)
            assert mailbox.count_by_recipient() == {m.email: 2 for m in managers}
        # a restart later that day: the scheduler, a forced run and the API all find the claims
        clock.advance(timedelta(hours=2))
        async with h.running(settings, clock) as c:
            assert (await c.runtime.parts.scheduler.tick()).runs[0].sent == 0
            r = await c.client.post("/api/v1/digests/run", json={"district_id": district},
                                    headers=h.headers_for(system=True))
            assert r.json()["sent"] == 0 and r.json()["skipped"] == len(managers)
        assert mailbox.count_by_recipient() == {m.email: 2 for m in managers}
        rows = await deliveries(asyncpg_dsn(digest_db), district)
        assert sorted({row["local_date"] for row in rows}) == [date(2026, 3, 9), date(2026, 3, 10)]
        assert len(rows) == 2 * len(managers) and {row["status"] for row in rows} == {"sent"}
    finally:
        await world.close()


async def test_a_crash_after_sending_but_before_recording_never_sends_again_and_shows_as_unknown(
        digest_db, rabbitmq_url, topology, mailbox, monkeypatch, harness):
    h = harness
    clock = h.FakeClock(MONDAY_0730_NY)
    settings = h.digest_settings(digest_db, rabbitmq_url, topology, mailbox.port, send_concurrency=1,
                                 claim_timeout_seconds=600)
    world = h.World(rabbitmq_url, topology, asyncpg_dsn(digest_db), clock)
    try:
        async with h.running(settings, clock) as first:
            district, managers = await populate(world, managers=1)
            release = asyncio.Event()

            async def hang(*args, **kwargs):
                await release.wait()   # the SMTP server said 250; the process never records it

            monkeypatch.setattr(Deliveries, "record_outcomes", hang)
            tick = asyncio.create_task(first.runtime.parts.scheduler.tick())
            await wait_until(lambda: len(mailbox.messages) >= 1, message="a digest sent")
            tick.cancel()                       # the process dies here
            with pytest.raises(asyncio.CancelledError):
                await tick
            release.set()   # stuck writes (and any still to come) end without writing anything
        monkeypatch.undo()
        sent_before_dying = {m.envelope_to[0] for m in mailbox.messages}
        clock.advance(timedelta(minutes=5))
        async with h.running(settings, clock) as restarted:
            # the run's lease is still held by the dead process: a forced run goes ahead anyway
            report = await restarted.runtime.parts.runner.run(district)
            assert report.sent == len(managers) - len(sent_before_dying)
            assert mailbox.count_by_recipient() == {m.email: 1 for m in managers}   # no second email
            claimed = [r for r in await deliveries(asyncpg_dsn(digest_db), district) if r["status"] == "claimed"]
            assert len(claimed) == len(sent_before_dying)
            # after the claim timeout the scheduler's sweep calls them unknown; they are never resent
            clock.advance(timedelta(minutes=11))
            tick = await restarted.runtime.parts.scheduler.tick()
            assert tick.unknown == len(sent_before_dying)
            admin = await world.user(district, schools=[], admin=True)
            log = (await restarted.client.get("/api/v1/digests", params={"status": "unknown"},
                                              headers=h.headers_for(admin))).json()
            by_id = {m.id: m.email for m in managers}
            assert {by_id[uuid.UUID(e["recipient"]["id"])] for e in log["items"]} == sent_before_dying
            assert all("claim timed out" in e["last_error"] for e in log["items"])
            clock.advance(timedelta(hours=1))
            await restarted.runtime.parts.scheduler.tick()
            await restarted.runtime.parts.runner.run(district)
        assert mailbox.count_by_recipient() == {m.email: 1 for m in managers}
    finally:
        await world.close()


async def test_a_scheduled_run_abandoned_by_a_dead_replica_is_taken_over_after_its_lease(
        digest_db, rabbitmq_url, topology, mailbox, harness):
    h = harness
    clock = h.FakeClock(MONDAY_0730_NY)
    settings = h.digest_settings(digest_db, rabbitmq_url, topology, mailbox.port, run_lease_seconds=300)
    world = h.World(rabbitmq_url, topology, asyncpg_dsn(digest_db), clock)
    try:
        async with h.running(settings, clock) as instance:
            district, managers = await populate(world, managers=2)
            conn = await asyncpg.connect(asyncpg_dsn(digest_db))
            try:  # a replica took the lease at 07:30 and died before sending anything
                await Runs(conn).acquire_scheduled(uuid.uuid4(), district, date(2026, 3, 9), "dead-replica",
                                                   clock(), clock() + timedelta(seconds=300))
            finally:
                await conn.close()
            assert (await instance.runtime.parts.scheduler.tick()).runs == []       # lease still valid
            clock.advance(timedelta(minutes=6))
            (run,) = (await instance.runtime.parts.scheduler.tick()).runs           # taken over
            assert run.sent == 2
            assert (await instance.runtime.parts.scheduler.tick()).runs == []       # completed: not again
        assert mailbox.count_by_recipient() == {m.email: 1 for m in managers}
    finally:
        await world.close()


async def test_a_recipient_who_hit_an_error_is_served_when_the_scheduled_run_is_taken_up_again(
        digest_db, rabbitmq_url, topology, mailbox, monkeypatch, harness):
    h = harness
    clock = h.FakeClock(MONDAY_0730_NY)
    settings = h.digest_settings(digest_db, rabbitmq_url, topology, mailbox.port, run_lease_seconds=300)
    world = h.World(rabbitmq_url, topology, asyncpg_dsn(digest_db), clock)
    try:
        async with h.running(settings, clock) as instance:
            district, managers = await populate(world, managers=3)
            real_claim, failed_once = Deliveries.claim, []

            async def flaky_claim(self, **kwargs):
                if not failed_once:
                    failed_once.append(kwargs["recipient_id"])
                    raise ConnectionResetError("database connection lost")
                return await real_claim(self, **kwargs)

            monkeypatch.setattr(Deliveries, "claim", flaky_claim)
            (run,) = (await instance.runtime.parts.scheduler.tick()).runs
            assert run.errors == 1 and run.sent == 2
            assert (await instance.runtime.parts.scheduler.tick()).runs == []    # still leased
            clock.advance(timedelta(minutes=6))
            (again,) = (await instance.runtime.parts.scheduler.tick()).runs
            assert again.sent == 1 and again.errors == 0
            assert (await instance.runtime.parts.scheduler.tick()).runs == []    # now completed
        assert mailbox.count_by_recipient() == {m.email: 1 for m in managers}
    finally:
        await world.close()
