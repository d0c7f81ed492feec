"""Digest run of a large district into a local SMTP sink, against raw SMTP sending in the same run.

    .venv/bin/python bench/bench_digest.py [--managers 2000] [--requests 100000] [--rounds 3]
                                           [--connections N] [--concurrency N] [--listed N]

Data (COPY straight into the projection tables of a fresh temporary database, dropped at the end):
one district, 50 schools, 2,000 Users Managers (~5% district scope, the rest 1-3 schools each) and
100,000 New requests (10% of requesters at two schools). A round is a full digest run of the
district (recipients, per-scope selection in SQL, rendering, claims, SMTP, outcomes and
`digest.sent` outbox rows) into an aiosmtpd sink running in its own process. The baseline sends
the same number of pre-rendered digest messages through the same mailer (same persistent
connection pool and concurrency): the raw SMTP rate on this machine. Rounds alternate
baseline/run; medians and the ratio are printed. Target: >= 200 emails/s.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
DISTRICT = "bench"
SCHOOLS = [f"sch-{i:02d}" for i in range(50)]
FIELDS = ["given_name", "family_name", "email", "phone", "sms"]


# --- the SMTP sink, in its own process ---------------------------------------------------------
def _sink_main(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def start_sink(port: int):
    ctx = multiprocessing.get_context("spawn")
    counter, ready = ctx.Value("q", 0), ctx.Event()
    process = ctx.Process(target=_sink_main, args=(port, counter, ready), daemon=True)
    process.start()
    if not ready.wait(30):
        raise SystemExit("the SMTP sink did not start")
    return process, counter


# --- data --------------------------------------------------------------------------------------
async def load(conn: asyncpg.Connection, managers: int, requests: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    await conn.execute("""INSERT INTO district_settings VALUES ($1, 1, true, true, '07:00', 'America/New_York', now())""",
                       DISTRICT)
    await conn.copy_records_to_table("school", records=[(DISTRICT, s, f"School {s[-2:]}", True, 1) for s in SCHOOLS],
                                     columns=["district_id", "id", "name", "active", "version"])
    users = []
    for i in range(managers):
        district_scope = i % 20 == 0  # 100 of 2,000
        schools = [] if district_scope else rng.sample(SCHOOLS, rng.randint(1, 3))
        users.append((uuid.uuid4(), DISTRICT, 1, f"Manager{i}", f"Family{i}", f"manager{i}@bench.example",
                      schools, True, False, "district" if district_scope else "schools", schools))
    await conn.copy_records_to_table("directory_user", records=users, columns=[
        "id", "district_id", "version", "given_name", "family_name", "email", "school_ids", "active",
        "district_admin", "manager_scope", "manager_school_ids"])
    rows, index = [], []
    for _ in range(requests):
        rid = uuid.uuid4()
        schools = rng.sample(SCHOOLS, 2 if rng.random() < 0.1 else 1)
        submitted = now - timedelta(seconds=rng.randint(60, 60 * 86400))
        fields = rng.sample(FIELDS, rng.randint(1, 3))
        rows.append((rid, DISTRICT, uuid.uuid4(), f"Requester {rng.randint(1, 10**6)}", schools, "new", fields,
                     rng.random() < 0.2, rng.random() < 0.1, submitted, None, 1))
        index += [(rid, s, DISTRICT, submitted, len(schools) > 1) for s in schools]
    await conn.copy_records_to_table("request", records=rows, columns=[
        "id", "district_id", "requester_id", "requester_name", "school_ids", "status", "fields", "has_note",
        "appears_applied", "submitted_at", "done_at", "version"])
    await conn.copy_records_to_table("request_school", records=index,
                                     columns=["request_id", "school_id", "district_id", "submitted_at", "shared"])
    await conn.execute("VACUUM ANALYZE")


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute("TRUNCATE digest_delivery, digest_run, outbox_message")


# --- the two measurements ------------------------------------------------------------------------
async def baseline(runner, messages: list, counter) -> float:
    from digest_service.adapters.smtp import OutgoingMail

    before = counter.value
    queue: asyncio.Queue = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker() -> None:
        while not queue.empty():
            m = queue.get_nowait()
            outcome = await runner.mailer.send(OutgoingMail(runner.renderer.envelope_from, m.to, m.data))
            assert outcome.result == "sent", outcome

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(runner.concurrency)))
    elapsed = time.perf_counter() - started
    assert counter.value - before == len(messages)
    return elapsed


async def full_run(runner, counter, managers: int) -> float:
    before = counter.value
    started = time.perf_counter()
    report = await runner.run(DISTRICT)
    elapsed = time.perf_counter() - started
    assert report.sent == managers and report.failed == 0, report.summary() | {"deliveries": "..."}
    assert counter.value - before == managers
    return elapsed


async def prerender(runner, conn, managers: int) -> list:
    """Real digest messages of the district, rendered once (the baseline's payload)."""
    from digest_service.adapters.repositories import Repositories
    from digest_service.domain.digest import DigestContent
    from digest_service.service_layer.selection import Selection

    repos = Repositories(conn)
    zone = (await repos.directory.district(DISTRICT)).schedule.zone
    names = await repos.directory.school_names(DISTRICT)
    recipients = await repos.directory.recipients(DISTRICT, datetime.now(UTC).date())
    selection, out = Selection(DISTRICT, runner.max_listed, runner.clock), []
    for r in recipients[:managers]:
        content: DigestContent = await runner._content(repos, DISTRICT, r, datetime.now(UTC).date(), selection)
        out.append(runner.renderer.render(content, school_names=names, zone=zone, delivery_id=uuid.uuid4(),
                                          now=datetime.now(UTC)))
    return out


async def main(args) -> int:
    sys.path.insert(0, str(ROOT / "services" / "digest" / "src"))
    from digest_service.bootstrap import bootstrap
    from digest_service.config import Settings
    from pur_kit.db import asyncpg_dsn, with_database
    from pur_kit.logging import configure_logging
    from pur_kit.migrations import drop_database, ensure_database, upgrade
    from pur_kit.testing import free_port

    configure_logging("bench", "WARNING")
    url = with_database(ADMIN_URL, f"pur_bench_digest_{uuid.uuid4().hex[:8]}")
    port = free_port()
    sink, counter = start_sink(port)
    await ensure_database(url)
    try:
        await upgrade(ROOT / "services" / "digest", url)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        t = time.perf_counter()
        await load(conn, args.managers, args.requests, random.Random(7))
        print(f"loaded {args.managers:,} managers and {args.requests:,} New requests in "
              f"{time.perf_counter() - t:.1f} s")
        overrides = {k: v for k, v in (("smtp_connections", args.connections), ("send_concurrency", args.concurrency),
                                       ("max_listed_requests", args.listed)) if v is not None}
        if args.concurrency is not None:
            overrides["db_pool_size"] = args.concurrency + 4
        settings = Settings(database_url=url, smtp_port=port, **overrides)
        runtime = bootstrap(settings)
        runner = runtime.parts.runner
        await runtime.db.start()
        try:
            messages = await prerender(runner, conn, args.managers)
            raw, runs = [], []
            for round_no in range(1, args.rounds + 1):
                raw.append(await baseline(runner, messages, counter))
                await reset(conn)
                runs.append(await full_run(runner, counter, args.managers))
                print(f"round {round_no}: raw SMTP {args.managers / raw[-1]:7.1f} emails/s ({raw[-1]:.2f} s)   "
                      f"digest run {args.managers / runs[-1]:7.1f} emails/s ({runs[-1]:.2f} s)")
            sent = await conn.fetchval("SELECT count(*) FROM digest_delivery WHERE status = 'sent'")
            outbox = await conn.fetchval("SELECT count(*) FROM outbox_message WHERE event_name = 'digest.sent'")
            assert sent == outbox == args.managers
        finally:
            await runtime.stop()
            await conn.close()
        raw_rate, run_rate = args.managers / statistics.median(raw), args.managers / statistics.median(runs)
        print(f"\nmedian of {args.rounds}: full digest run {statistics.median(runs):.2f} s = {run_rate:.1f} emails/s; "
              f"raw SMTP send {raw_rate:.1f} emails/s; ratio run/raw = {run_rate / raw_rate:.2f}")
        print(f"target >= 200 emails/s: {'met' if run_rate >= 200 else 'NOT met'} "
              f"({settings.smtp_connections} SMTP connections, {settings.send_concurrency} recipients in flight, "
              f"{settings.max_listed_requests} requests listed per email)")
    finally:
        await drop_database(url)
        sink.terminate()
        sink.join(5)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--managers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=None, help="default: the service's smtp_connections")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the service's send_concurrency")
    parser.add_argument("--listed", type=int, default=None,
                        help="requests listed per email (default: the service's max_listed_requests)")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
