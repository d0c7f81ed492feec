"""Scenario 5: two replicas of every service (two processes each, on their own ports, sharing the
database and the queues) under a burst of submissions, Mark as Done / Restore sent to both at once
and a roster import, then a digest run started on both digest replicas at the same moment: nothing
lost or duplicated, exactly one digest email per manager. Also: two replicas migrating a fresh
database at the same moment (each `serve` migrates before it serves) must both come up."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from fault_harness.district import prepare
from fault_harness.ledger import Ledger
from fault_harness.system import SERVICES

SUBMISSIONS = 60
DONE, RESTORED = 30, 15   # the first 30 requests are marked done on both replicas, the first 15 restored


async def test_two_replicas_of_every_service_lose_and_duplicate_nothing(start_system, record, tmp_path):
    system = await start_system(replicas=2)
    async with Ledger(system) as ledger:
        district = await prepare(system, tmp_path, students=90, parents=40, staff=12)
        keys = [f"replicas-{n}" for n in range(SUBMISSIONS)]
        run, *_ = await asyncio.gather(
            district.import_roster(district.changed_roster("replicas", every=2), replica=1),
            *(district.submit(district.students[n % len(district.students)], key, replica=n % 2)
              for n, key in enumerate(keys)))
        ids = [district.request_ids[key] for key in keys]
        manager = district.managers[0]   # district-wide scope
        for action, count in (("mark-done", DONE), ("restore", RESTORED)):
            await asyncio.gather(*(district.act(manager, request_id, action, replica=replica)
                                   for request_id in ids[:count] for replica in (0, 1)))
        await ledger.settle()
        plan = await district.digest(dry_run=True)
        await asyncio.gather(district.digest(replica=0), district.digest(replica=1))
        row = await record("5. two replicas of every service", ledger)
        gaps = await ledger.projection_gaps()
        history = await system.fetch("requests", "SELECT action, count(*) FROM request_history GROUP BY action")

    assert run["status"] == "succeeded" and run["counts"]["updated"] > 0, run
    assert await district.stored() == district.request_ids and len(ids) == SUBMISSIONS
    assert dict(history) == {"submitted": SUBMISSIONS, "marked_done": DONE, "restored": RESTORED}
    assert gaps == [], gaps
    assert (row.lost, row.duplicated, row.dead_lettered) == (0, 0, 0), row
    assert row.applied == row.deliveries > 0, row
    expected = sorted(e["to"] for e in plan["emails"])
    assert len(expected) == len(district.managers)
    assert sorted(system.mailbox.recipients()) == expected


async def migrate_at_once(service: str, database_url: str) -> list[int]:
    command = str(Path(sys.executable).with_name(f"pur-{service.replace('_', '-')}"))
    env = {**os.environ, f"{service.upper()}_DATABASE_URL": database_url}
    processes = [await asyncio.create_subprocess_exec(command, "migrate", env=env, stdout=asyncio.subprocess.DEVNULL,
                                                      stderr=asyncio.subprocess.DEVNULL) for _ in range(2)]
    return [await p.wait() for p in processes]


async def test_two_replicas_migrating_a_fresh_database_at_once_both_come_up(database_factory):
    results = {}
    for attempt in range(2):
        for service in SERVICES:
            url = await database_factory(f"migrate_{service}")
            results[f"{service} #{attempt}"] = await migrate_at_once(service, url)
    assert results == {name: [0, 0] for name in results}, f"exit codes of two `migrate` at once: {results}"
