"""SIS roster import at district scale, against a naive per-row ORM upsert in the same run.

    .venv/bin/python bench/bench_sis_sync.py [--students 50000 --parents 40000 --staff 10000 --schools 50]
                                             [--naive-sample 10000]

Generates a OneRoster 1.1 export (100,000 users by default) into a temp dir and a fresh temp
database, then imports it in a child process (so the peak RSS is the import's own: VmHWM, read in
the child) three times: first import, the same file again, and a file where 1% of the users changed
their email. Events are the outbox rows the run wrote (no relay runs here, so they stay countable);
between imports, untimed, the outbox is emptied as the relay would, and VACUUM ANALYZE plus a
CHECKPOINT stand in for the day that normally separates two imports. The baseline parses the first
N users with the same reader and upserts them one by one through a SQLAlchemy ORM session (select,
then insert or update, plus the outbox event through pydantic), committing once. Each import also
reports its own CPU time: on a shared machine, wall time follows the load average (printed).
Targets (issue 4): first import < 20 s, unchanged re-import < 5 s, peak RSS < 400 MB, >= 20x the
baseline per row.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "sis_sync"
DISTRICT = "bench"


# --- child: one import, measured from inside ----------------------------------------------------
async def child_import(database_url: str, path: Path, district: str) -> dict:
    from sis_sync_service.config import Settings
    from sis_sync_service.service_layer.imports import ImportPipeline

    pipeline = ImportPipeline(Settings(database_url=database_url))
    cpu = time.process_time()
    started = time.perf_counter()
    run = await pipeline.begin(district, source="cli", source_name=path.name)
    outcome = await pipeline.execute(run, path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu, "status": outcome.status, "failure": outcome.failure, "run_id": str(outcome.run_id),
            "counts": outcome.counts.as_dict(), "max_rss_mb": peak_rss_mb(), "steps": outcome.timings}


def peak_rss_mb() -> float:
    """This process's own peak RSS. getrusage's ru_maxrss is not enough: Linux carries the parent's
    high-water mark over fork+exec into it, while VmHWM belongs to the current address space only."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured_import(database_url: str, path: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "_child", database_url, str(path), DISTRICT],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"import child failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    if result["status"] != "succeeded":
        raise SystemExit(f"import failed: {result['failure']}")
    return result


async def events_of(database_url: str, run_id: str) -> int:
    """The run's directory events, then settle like a day between imports would (untimed): the relay
    publishes (and deletes) the outbox rows, autovacuum and a checkpoint catch up."""
    from pur_kit.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        events = await conn.fetchval("SELECT count(*) FROM outbox_message WHERE correlation_id = $1 "
                                     "AND event_name LIKE 'directory.%'", run_id)
        await conn.execute("DELETE FROM outbox_message")
        await conn.execute("VACUUM (ANALYZE) directory_user, outbox_message, school")
        await conn.execute("CHECKPOINT")
        return events
    finally:
        await conn.close()


# --- the naive baseline ---------------------------------------------------------------------------
def sample_users(path: Path, n: int) -> tuple[list, set[str]]:
    from sis_sync_service.adapters.oneroster import RowError, open_roster

    with open_roster(path, max_uncompressed_bytes=2 ** 31, max_entries=200) as roster:
        orgs = [o for o in roster.orgs() if not isinstance(o, RowError)]
        known = {o.sourced_id for o in orgs}
        schools = {o.sourced_id for o in orgs if (o.type or "").lower() == "school"}
        users = []
        for item in roster.users(known):
            if not isinstance(item, RowError):
                users.append(item)
            if len(users) == n:
                break
    return users, schools


async def naive_upsert(database_url: str, users: list, schools: set[str], district: str) -> float:
    """The per-row way: an ORM object per user, select-then-insert/update, an event per change."""
    from pur_contracts import DirectoryUser, DirectoryUserUpserted
    from pur_kit.db import make_engine, make_sessionmaker
    from sis_sync_service.adapters.orm import OUTBOX, directory_user, district as district_table
    from sqlalchemy import insert, select
    from sqlalchemy.orm import registry

    class User:
        pass

    registry().map_imperatively(User, directory_user)
    engine = make_engine(database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    async with sessions.begin() as session:
        await session.execute(insert(district_table).values(id=district, name=district))
        for record in users:
            user = (await session.execute(select(User).where(
                User.district_id == district, User.sis_id == record.sourced_id))).scalar_one_or_none()
            values = dict(role=record.role, given_name=record.given_name, family_name=record.family_name,
                          email=record.email or None, phone=record.phone or None, sms=record.sms or None,
                          school_ids=sorted({o for o in record.org_sourced_ids or () if o in schools}),
                          agent_sis_ids=sorted(set(record.agent_sourced_ids or ())), active=True)
            if user is None:
                user = User()
                user.id, user.district_id, user.sis_id, user.version = uuid.uuid4(), district, record.sourced_id, 1
                user.permissions = {"district_admin": False, "users_manager": None}
                for key, value in values.items():
                    setattr(user, key, value)
                session.add(user)
            elif any(getattr(user, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(user, key, value)
                user.version += 1
            else:
                continue
            await session.flush()
            event = DirectoryUserUpserted(district_id=district, version=user.version, user=DirectoryUser(
                id=user.id, district_id=district, sis_id=user.sis_id, role=user.role, given_name=user.given_name,
                family_name=user.family_name, email=user.email, phone=user.phone, sms=user.sms,
                school_ids=user.school_ids, active=True))
            await session.execute(insert(OUTBOX).values(
                event_id=str(event.event_id), event_name=event.event_name, routing_key=event.event_name,
                payload=event.model_dump_json()))
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds


# --- driver ---------------------------------------------------------------------------------------
async def main(args) -> int:
    from pur_kit.db import with_database
    from pur_kit.migrations import drop_database, ensure_database, upgrade
    from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

    total = args.students + args.parents + args.staff
    database_url = with_database(ADMIN_URL, f"pur_bench_sis_{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory(prefix="bench-sis-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        roster = generate_roster(tmp / "roster.zip", schools=args.schools, students=args.students,
                                 parents=args.parents, staff=args.staff, seed=1)
        rng = random.Random(2)
        to_change = set()

        def one_percent(row: dict) -> dict:
            if rng.random() < 0.01:
                row["email"] = f"changed.{row['sourcedId'].lower()}@example.org"
                to_change.add(row["sourcedId"])
            return row

        changed = rewrite_users(roster, tmp / "changed.zip", one_percent)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"generated {total:,} users in {args.schools} schools ({roster.stat().st_size / 1e6:.1f} MB zip) "
              f"in {time.perf_counter() - t0:.1f} s; {len(to_change):,} emails changed for the 1% file")
        await ensure_database(database_url)
        try:
            await upgrade(SERVICE_DIR, database_url)
            rows = []
            for label, path in (("first import", roster), ("unchanged re-import", roster),
                                ("1% changed re-import", changed)):
                result = measured_import(database_url, path)
                result["events"] = await events_of(database_url, result["run_id"])
                rows.append((label, result))
                c = result["counts"]
                print(f"{label:<22} {result['seconds']:6.2f} s (importer CPU {result['cpu_seconds']:5.2f} s, "
                      f"whole process {result['process_seconds']:5.2f} s)  "
                      f"peak RSS {result['max_rss_mb']:6.1f} MB  events {result['events']:>6,}  "
                      f"created {c['created']:,} updated {c['updated']:,} unchanged {c['unchanged']:,} "
                      f"deactivated {c['deactivated']:,} rejected {c['rejected']:,}")
                print(" " * 23 + "steps (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result["steps"].items()))

            users, schools = await asyncio.to_thread(sample_users, roster, args.naive_sample)
            naive = await naive_upsert(database_url, users, schools, "naive")
            fast = rows[0][1]["seconds"]
            per_row_naive, per_row_fast = naive / len(users), fast / total
            print(f"naive ORM upsert        {naive:6.2f} s for {len(users):,} users "
                  f"= {per_row_naive * 1e6:,.0f} us/row; set-based first import {per_row_fast * 1e6:,.1f} us/row; "
                  f"ratio {per_row_naive / per_row_fast:,.1f}x")
            targets = [
                ("first import < 20 s", rows[0][1]["seconds"] < 20),
                ("unchanged re-import < 5 s", rows[1][1]["seconds"] < 5),
                ("peak RSS < 400 MB", max(r["max_rss_mb"] for _, r in rows) < 400),
                (">= 20x the naive baseline per row", per_row_naive / per_row_fast >= 20),
                ("1% re-import events == changed users", rows[2][1]["events"] == len(to_change)),
                ("unchanged re-import publishes nothing", rows[1][1]["events"] == 0),
            ]
            for name, ok in targets:
                print(f"  [{'ok' if ok else 'MISSED'}] {name}")
            return 0 if all(ok for _, ok in targets) else 1
        finally:
            await drop_database(database_url)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        _, _, url, path, district = sys.argv
        print(json.dumps(asyncio.run(child_import(url, Path(path), district))))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--students", type=int, default=50_000)
    parser.add_argument("--parents", type=int, default=40_000)
    parser.add_argument("--staff", type=int, default=10_000)
    parser.add_argument("--naive-sample", type=int, default=10_000)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
