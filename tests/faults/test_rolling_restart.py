"""Scenario 6: a rolling restart under load. Two replicas of every service; while submissions keep
arriving, each service's replica 0 gets SIGTERM and is started again once it has exited, then its
replica 1 (a new version rolled out one process at a time). Clients behave as a load balancer
would make them: a submission goes to one replica and, when that replica stops answering (refused,
connection closed, 503), is retried on the other with the same Idempotency-Key.

A stopping process must stop taking new work, finish the HTTP requests and deliveries it has,
publish what it committed (or leave it in the outbox for the replica that stays), and exit within
its grace period: 0 failed requests, 0 lost, 0 duplicated, no dead letter. The time each old
process took to exit is printed and kept in the fault table's details.
"""
from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import httpx
from fault_harness.district import person, prepare
from fault_harness.ledger import Ledger
from fault_harness.system import SERVICES

RATE = 25            # submissions per second while the roll runs
GRACE_SECONDS = 30   # what an orchestrator gives a process between SIGTERM and SIGKILL
ANSWER_WITHIN = 60.0


async def test_a_rolling_restart_under_load_fails_loses_and_duplicates_nothing(start_system, record, tmp_path):
    system = await start_system(replicas=2)
    outcomes: Counter[str] = Counter()
    exits: dict[str, float] = {}
    answered: dict[str, str] = {}

    async def submit(n: int) -> None:
        key, user = f"roll-{n}", district.students[n % len(district.students)]
        replica, deadline = n % 2, time.monotonic() + ANSWER_WITHIN
        while True:
            try:
                r = await system.client.post(f"{system.url('requests', replica)}/api/v1/requests",
                                             json={"note": f"rolling {key}"},
                                             headers={**person(user), "Idempotency-Key": key})
                if r.status_code in (200, 201):
                    outcomes["answered"] += 1
                    answered[key] = r.json()["id"]
                    return
                if r.status_code != 503:
                    outcomes[f"refused {r.status_code}"] += 1
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                outcomes["failed"] += 1
                return
            outcomes["retried on the other replica"] += 1
            replica = 1 - replica
            await asyncio.sleep(0.05)

    async def load(stop: asyncio.Event) -> int:
        tasks, n = [], 0
        while not stop.is_set():
            tasks.append(asyncio.create_task(submit(n)))
            n += 1
            await asyncio.sleep(1 / RATE)
        await asyncio.gather(*tasks)
        return n

    async with Ledger(system) as ledger:
        district = await prepare(system, tmp_path, students=60, parents=20, staff=10)
        stop = asyncio.Event()
        loader = asyncio.create_task(load(stop))
        await asyncio.sleep(1.0)
        exit_codes = {}
        for replica in (0, 1):
            for service in SERVICES:
                process = system.stacks[replica].processes[service]
                started = time.monotonic()
                await asyncio.to_thread(system.stacks[replica].stop_one, service, signal.SIGTERM, GRACE_SECONDS)
                exits[f"{service}[{replica}]"] = round(time.monotonic() - started, 2)
                exit_codes[f"{service}[{replica}]"] = process.returncode
                await system.restart(service, replica)
        stop.set()
        sent = await loader
        await ledger.settle()
        row = await record("6. rolling restart under load", ledger, submissions=sent,
                           failed=outcomes["failed"], retried=outcomes["retried on the other replica"],
                           slowest_exit_ms=int(max(exits.values()) * 1000))
        stored = await district.stored()

    print(f"\nrolling restart: {sent} submissions, outcomes {dict(outcomes)}; seconds to exit after SIGTERM: {exits}")
    assert outcomes["failed"] == 0 and outcomes["answered"] == sent, outcomes
    assert exit_codes == {name: 0 for name in exit_codes}, f"exit codes after SIGTERM: {exit_codes}"
    assert all(seconds < GRACE_SECONDS for seconds in exits.values()), exits
    assert {k: stored.get(k) for k in answered} == answered          # every answered request is stored
    assert (row.lost, row.duplicated, row.dead_lettered) == (0, 0, 0), row
    assert row.applied == row.deliveries > 0, row
