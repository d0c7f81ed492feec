"""Scenario 2: each service in turn is SIGKILLed in the middle of a burst (submissions and a roster
re-import that changes users), then restarted: nothing is lost, nothing is duplicated (request
history, projections, digest emails), nothing is dead-lettered."""
from __future__ import annotations

import asyncio
import time

from fault_harness.district import District, prepare
from fault_harness.ledger import Ledger
from fault_harness.system import FaultSystem

SUBMISSIONS_PER_ROUND = 40
INBOX = "SELECT count(*) FROM inbox_message"


async def kill_mid_burst(system: FaultSystem, district: District, victim: str, burst: asyncio.Task) -> bool:
    """SIGKILL `victim` once it is busy with the burst (or when the burst ended first); True if mid-burst."""
    answered, handled = len(district.answers), await system.fetchval(victim, INBOX)
    deadline = time.monotonic() + 30

    async def busy() -> bool:
        if victim == "requests":
            return len(district.answers) >= answered + 10
        if victim == "sis_sync":   # importing, or relaying the import's events
            return bool(await system.fetchval(
                "sis_sync", "SELECT (SELECT count(*) FROM sis_import_run WHERE status = 'running')"
                            " + (SELECT count(*) FROM outbox_message)"))
        return await system.fetchval(victim, INBOX) >= handled + 10

    while not await busy() and not burst.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    mid_burst = not burst.done()
    await system.kill(victim)
    await system.restart(victim)
    return mid_burst


async def test_each_service_killed_mid_burst_loses_and_duplicates_nothing(start_system, record, tmp_path):
    system = await start_system()
    killed_mid_burst = []
    async with Ledger(system) as ledger:
        district = await prepare(system, tmp_path, students=90, parents=40, staff=12)
        for victim in ("requests", "digest", "settings", "sis_sync"):
            roster = district.changed_roster(f"kill-{victim}", every=2)
            keys = [f"kill-{victim}-{n}" for n in range(SUBMISSIONS_PER_ROUND)]

            async def burst(roster=roster, keys=keys) -> None:
                submissions = [district.submit(district.students[n % len(district.students)], key)
                               for n, key in enumerate(keys)]
                run, *_ = await asyncio.gather(district.import_roster(roster, retry_failed=True), *submissions)
                assert run["status"] == "succeeded", run

            task = asyncio.create_task(burst())
            if await kill_mid_burst(system, district, victim, task):
                killed_mid_burst.append(victim)
            await task
        await ledger.settle()
        plan = await district.digest(dry_run=True)
        await asyncio.gather(district.digest(), district.digest())
        row = await record("2. each service SIGKILLed mid-burst, then restarted", ledger,
                           **{"services killed while still busy with the burst": len(killed_mid_burst)})
        gaps = await ledger.projection_gaps()
        stored = await district.stored()

    assert len(district.answers) == 4 * SUBMISSIONS_PER_ROUND and set(district.answers.values()) <= {200, 201}
    assert stored == district.request_ids   # every answered submission is there, once
    assert gaps == [], gaps
    assert (row.lost, row.duplicated, row.dead_lettered) == (0, 0, 0), row
    assert row.applied == row.deliveries > 0, row
    assert sorted(system.mailbox.recipients()) == sorted(e["to"] for e in plan["emails"]) != []
