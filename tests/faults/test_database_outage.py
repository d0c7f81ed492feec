"""Scenario 3: the consumers' databases (requests and digest) are unreachable for ~75 s while a
roster import of ~3,000 users queues ~3,000 directory events for each of them. An outage is not a
poison message: nothing is dead-lettered or lost, HTTP answers 503 during the outage and recovers,
and the projections converge once the databases are back."""
from __future__ import annotations

import asyncio
import time

from fault_harness.district import DISTRICT, SYSTEM, District
from fault_harness.ledger import Ledger
from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster

OUTAGE = 75.0
CUT = ("requests", "digest")


async def test_a_long_database_outage_of_the_consumers_dead_letters_and_loses_nothing(start_system, record, tmp_path):
    system = await start_system()
    district = District(system, generate_roster(tmp_path / "roster.zip", schools=5, students=2000, parents=800,
                                                staff=200, seed=3))
    probes = [f"{system.url('requests')}/api/v1/requests?district_id={DISTRICT}",
              f"{system.url('digest')}/api/v1/digests"]

    async def answers() -> list[tuple[int, str]]:
        responses = [await system.client.get(url, headers=SYSTEM) for url in probes]
        return [(r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "") for r in responses]

    async with Ledger(system) as ledger:
        assert await answers() == [(200, "")] * 2
        await system.cut_databases(*CUT)
        cut_at = time.monotonic()
        run = await district.import_roster(district.roster)
        during: list[tuple[int, str]] = []
        while time.monotonic() - cut_at < OUTAGE:
            during += await answers()
            await asyncio.sleep(2)
        await system.restore_databases(*CUT)

        async def serving() -> bool:
            return await answers() == [(200, "")] * 2

        await wait_until(serving, timeout=60, interval=0.5, message="HTTP to recover")
        await ledger.settle(timeout=180)
        row = await record("3. consumers' databases down ~75 s, ~3,000 events queued", ledger)
        gaps = await ledger.projection_gaps()

    assert run["status"] == "succeeded" and run["counts"]["created"] == 3000, run
    assert during and set(during) == {(503, "unavailable")}, set(during)
    assert row.dead_lettered == 0, row
    assert row.lost == 0 and row.duplicated == 0, row
    assert gaps == [], gaps
    assert row.applied == row.deliveries, row
