"""A burst of exports in the drop folder of one process: SIS_SYNC_MAX_CONCURRENT_IMPORTS at 4 (the
default) against a cap as large as the burst (every export started at once, as before the cap).

Prints, per round and as medians of alternating rounds (the machine is shared and noisy): the wall
time until every run has succeeded, and each run's own time (its `execute`, which is what
SIS_SYNC_IMPORT_MAX_SECONDS bounds). A fresh database, first imports of districts of their own, no
broker (the outbox is not relayed).

    .venv/bin/python services/sis_sync/bench/bench_import_cap.py     # N=12 exports, ROUNDS=3, USERS=10000
"""
from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
import uuid
from pathlib import Path

import asyncpg
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from sis_sync_service.adapters.oneroster.generator import generate_roster
from sis_sync_service.config import Settings
from sis_sync_service.service_layer.imports import ImportPipeline
from sis_sync_service.service_layer.runner import ImportRunner

SERVER = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
N = int(os.environ.get("N", "12"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
USERS = int(os.environ.get("USERS", "10000"))
CAP = 4
SERVICE_DIR = Path(__file__).resolve().parents[1]


async def burst(url: str, roster: Path, work: Path, cap: int, tag: str) -> tuple[float, list[float]]:
    """Drop N exports, run the drop-folder loop until all are imported: (wall seconds, run seconds)."""
    drop = work / f"drop-{tag}"
    for i in range(N):
        (drop / f"{tag}-{i}").mkdir(parents=True)
        shutil.copy(roster, drop / f"{tag}-{i}" / "export.zip")
    settings = Settings(database_url=url, drop_folder=drop, drop_settle_seconds=0, drop_poll_seconds=30,
                        max_concurrent_imports=cap)
    pipeline = ImportPipeline(settings)
    runner = ImportRunner(settings, pipeline)
    runs: list[float] = []
    execute = pipeline.execute

    async def timed(started, source, progress=None):
        began = time.perf_counter()
        try:
            return await execute(started, source, progress)
        finally:
            runs.append(time.perf_counter() - began)

    pipeline.execute = timed
    began = time.perf_counter()
    loop = asyncio.create_task(runner.drop_folder_loop())
    while len(runs) < N:
        await asyncio.sleep(0.05)
    wall = time.perf_counter() - began
    loop.cancel()
    await runner.cancel_all()
    await pipeline.close()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        failed = await conn.fetchval("SELECT count(*) FROM sis_import_run WHERE district_id LIKE $1 "
                                     "AND status <> 'succeeded'", f"{tag}-%")
    finally:
        await conn.close()
    assert failed == 0, f"{failed} runs did not succeed"
    return wall, runs


async def main() -> None:
    name = f"bench_import_cap_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(f"{SERVER}/postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url, work = f"{SERVER}/{name}", Path(f"/tmp/{name}")
    try:
        await upgrade(SERVICE_DIR, url)
        work.mkdir(parents=True)
        roster = generate_roster(work / "roster.zip", schools=10, students=USERS // 2, parents=USERS * 2 // 5,
                                 staff=USERS // 10, seed=3)
        results: dict[int, list[tuple[float, list[float]]]] = {CAP: [], N: []}
        for r in range(ROUNDS):
            for cap in ((CAP, N) if r % 2 == 0 else (N, CAP)):
                wall, runs = await burst(url, roster, work, cap, f"r{r}c{cap}")
                results[cap].append((wall, runs))
                print(f"round {r} cap {cap:>2}: wall {wall:.1f} s; run median {statistics.median(runs):.1f} s, "
                      f"longest {max(runs):.1f} s", flush=True)
        for cap, rows in results.items():
            print(f"cap {cap:>2}: wall {statistics.median(w for w, _ in rows):.1f} s; run median "
                  f"{statistics.median(statistics.median(r) for _, r in rows):.1f} s, longest "
                  f"{statistics.median(max(r) for _, r in rows):.1f} s (medians of {ROUNDS} rounds)")
        ratio = statistics.median(w for w, _ in results[CAP]) / statistics.median(w for w, _ in results[N])
        print(f"wall time, cap {CAP} / cap {N}: {ratio:.2f}")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
