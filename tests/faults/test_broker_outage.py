"""Scenario 1: the broker is stopped for ~15 s under steady load (submissions and a roster
re-import that changes users): every submission is answered, every event reaches its consumers,
nothing is duplicated and nothing is dead-lettered."""
from __future__ import annotations

import asyncio
import time

from fault_harness.district import prepare
from fault_harness.ledger import Ledger
from pur_kit.testing import wait_until

SUBMISSIONS = 200
PACE = 0.1          # seconds between submissions: ~20 s of load around the outage
OUTAGE = 15.0


async def test_a_broker_outage_under_load_loses_duplicates_and_dead_letters_nothing(start_system, record, tmp_path):
    system = await start_system()
    async with Ledger(system) as ledger:
        district = await prepare(system, tmp_path, students=90, parents=40, staff=12)
        keys = [f"broker-outage-{i}" for i in range(SUBMISSIONS)]

        async def load() -> None:
            answers = []
            for i, key in enumerate(keys):
                answers.append(asyncio.create_task(district.submit(district.students[i % len(district.students)], key)))
                await asyncio.sleep(PACE)
            await asyncio.gather(*answers)

        submissions = asyncio.create_task(load())
        await wait_until(lambda: len(district.answers) >= 20, timeout=60, message="load under way")
        await system.broker_proxy.cut()
        cut_at = time.monotonic()
        run = await district.import_roster(district.changed_roster("renamed", every=3))
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
        await system.broker_proxy.restore()
        await submissions
        await ledger.settle()
        row = await record("1. broker stopped ~15 s under load", ledger)
        gaps = await ledger.projection_gaps()
        stored = await district.stored()

    assert run["status"] == "succeeded" and run["counts"]["updated"] > 0, run
    assert sorted(district.answers) == sorted(keys) and set(district.answers.values()) <= {200, 201}
    assert stored == district.request_ids   # every answered submission is there, once
    assert gaps == [], gaps
    assert (row.lost, row.duplicated, row.dead_lettered) == (0, 0, 0), row
    assert row.applied == row.deliveries > 0, row
