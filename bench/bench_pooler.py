"""The kit's unit of work straight to PostgreSQL and behind a transaction-pooling PgBouncer 1.18.

    .venv/bin/python bench/bench_pooler.py [--seconds 5] [--tasks 16] [--rounds 3]

Each task runs, in a loop, the shape of a submission's unit of work: an INSERT with bound
parameters, a SELECT on it, one outbox event, COMMIT (`pur_kit.uow.Database`, pool of 10). Three
ways, rounds alternating so they share the machine's noise:
- direct:        PostgreSQL, asyncpg's statement cache (the default);
- direct, no cache: PostgreSQL, `pooled=True` (statement_cache_size=0): what the setting costs on
                 the client and the server (every statement parsed and planned again);
- PgBouncer:     the same through PgBouncer (transaction mode, 10 server connections): the setting
                 plus the extra hop.
Prints transactions per second (median of the rounds) and each way's ratio to `direct`; asserts
nothing. Without pgbouncer installed (apt-get install pgbouncer) the third way is left out.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid

from pur_contracts import DirectorySchool, DirectorySchoolUpserted
from pur_kit.db import make_engine, make_metadata, with_database
from pur_kit.messaging_tables import CREATE_NOTIFY_TRIGGER, inbox_table, outbox_table
from pur_kit.migrations import drop_database, ensure_database
from pur_kit.testing.pgbouncer import pgbouncer_available, running_pgbouncer
from pur_kit.uow import Database
from sqlalchemy import Column, DateTime, Integer, String, Table, func

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")

metadata = make_metadata()
outbox_table(metadata)
inbox_table(metadata)
Table("item", metadata, Column("id", String, primary_key=True), Column("n", Integer, nullable=False),
      Column("note", String), Column("created_at", DateTime(timezone=True), server_default=func.now()))

SCHOOL = DirectorySchool(id="s1", district_id="d1", name="North")


async def load(database: Database, tasks: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def task(t: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            key = uuid.uuid4().hex
            async with database.unit_of_work() as uow:
                await uow.conn.execute("INSERT INTO item (id, n, note) VALUES ($1, $2, $3)", key, t, "moved")
                await uow.conn.fetchval("SELECT n FROM item WHERE id = $1", key)
                uow.publish(DirectorySchoolUpserted(district_id="d1", version=1, school=SCHOOL))
                await uow.commit()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(task(t) for t in range(tasks)))
    return done / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = with_database(ADMIN_URL, f"pur_bench_pooler_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    try:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for statement in CREATE_NOTIFY_TRIGGER:
                await conn.exec_driver_sql(statement)
        await engine.dispose()
        with contextlib.ExitStack() as stack:
            ways = {
                "direct": Database(url, 10, consumer="bench.main", reset_on_release=False),
                "direct, no cache": Database(url, 10, consumer="bench.main", reset_on_release=False, pooled=True),
            }
            if pgbouncer_available():
                bouncer = stack.enter_context(running_pgbouncer(ADMIN_URL, pool_size=10))
                ways["PgBouncer"] = Database(bouncer.url_for(url), 10, consumer="bench.main",
                                             reset_on_release=False, pooled=True)
            else:
                print("pgbouncer is not installed: measuring the two direct ways only")
            for database in ways.values():
                await database.start()
                await load(database, args.tasks, 0.5)  # connect, introspect, warm
            rates: dict[str, list[float]] = {name: [] for name in ways}
            for round_no in range(args.rounds):
                for name, database in ways.items():
                    rate = await load(database, args.tasks, args.seconds)
                    rates[name].append(rate)
                    print(f"round {round_no + 1} {name:<17} {rate:8,.0f} tx/s")
            for database in ways.values():
                await database.close()
        base = statistics.median(rates["direct"])
        for name, values in rates.items():
            median = statistics.median(values)
            print(f"{name:<17} median {median:8,.0f} tx/s  ratio to direct {median / base:.2f}")
    finally:
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
