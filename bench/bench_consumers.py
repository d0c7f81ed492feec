"""How many directory events per second one replica of each consuming service applies, against a
bare aio-pika + asyncpg consumer in the same run.

    .venv/bin/python bench/bench_consumers.py [--events 20000] [--rounds 3] [--schools 40]
                                              [--services requests,settings,digest] [--sizes 20000]
                                              [--queue-type classic|quorum]

The nightly roster sync fans `directory.user.upserted` out to settings, requests and digest; this
measures the rate at which each applies them. Each service runs as one real process (`pur-<svc>
serve` through `pur_kit.devstack`, its production entrypoint) on a fresh database and a namespace of
its own. A round, for each service: with the process stopped, N events of a new district (40
schools, users with one or two schools, the roles of a roster) are published with confirms straight
to the exchange, as sis_sync's relay would (persistent, `message_id` = event id, `type` = event
name); then the process starts and works through its queue. The rate is N over the span of the
`processed_at` of the N inbox rows (each set by the database at its transaction's start), so the
process's start-up is not counted; every event must land in the projection (`directory_user`).
The process logs as in production (INFO: a summary line every 10 s, a line per failure), read by
this process and written to the log directory printed at the start, as a container runtime would.
Each service's line also gives the process's CPU milliseconds per event (from /proc, start-up left
out): on a shared machine the rates move with the neighbours' load, the CPU per event much less.
`--queue-type` pins the queues' type for the whole run (default: the kit's).

The baseline is the floor of "consume + one write": an aio-pika consumer with the same prefetch (32)
that writes one row per message with asyncpg (a pool of 10, the kit's default) and acks after the
write, over the same pre-loaded queue, timed the same way. Rounds alternate baseline and services so
all see the same machine noise; medians and ratios are printed, then the bytes per row of each
service's tables (`pg_total_relation_size` / rows, indexes and TOAST included) for capacity sizing:
the consumers' tables after the rounds, sis_sync's after importing a generated roster (`--sizes`
users), and the request tables after a tenth of those users submitted through the real requests
process, their `request.submitted` events then applied by the digest. Also printed: the WAL written
per applied event (the whole cluster's, the least of the rounds: other work adds to it) and per user
of the sis_sync import.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
from pur_contracts import (
    DirectoryUser,
    DirectoryUserUpserted,
    Topology,
    UserPermissions,
    UsersManagerScope,
)
from pur_kit.config import DEV_JWT_SECRET, ServiceSettings
from pur_kit.db import asyncpg_dsn, with_database
from pur_kit.devstack import ServiceSpec, Stack
from pur_kit.migrations import drop_database, ensure_database
from pur_kit.testing import free_port

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
SERVICES = ("requests", "settings", "digest")
PREFETCH = 32
BASELINE_POOL = 10
EVENT = DirectoryUserUpserted.event_name
# The kit's default, pinned for the whole run (services and baseline alike): a default that changed
# between the first start (which declares the queues) and a round would strand the round's events in
# queues no process consumes.
DEFAULT_QUEUE_TYPE = ServiceSettings.model_fields["queue_type"].default
# Roles of a roster export (bench_sis_sync's default district: 50% students, 40% parents, 10% staff).
ROLES = (("student", 0.5), ("parent", 0.4), ("teacher", 0.08), ("administrator", 0.02))


def district_events(district: str, n: int, schools: int, rng: random.Random) -> list[tuple[bytes, str]]:
    """(body, event id) of N users of one district: 85% at one school, 15% at two (a parent with
    children at two schools, a teacher shared between them); 1% of the staff are Users Managers."""
    school_ids = [f"sch-{i:03d}" for i in range(schools)]
    roles, weights = zip(*ROLES, strict=True)
    out = []
    for i in range(n):
        role = rng.choices(roles, weights)[0]
        at = rng.sample(school_ids, 2 if rng.random() < 0.15 else 1)
        permissions = UserPermissions()
        if role in ("teacher", "administrator") and rng.random() < 0.1:
            permissions = UserPermissions(users_manager=UsersManagerScope(scope="schools", school_ids=at))
        event = DirectoryUserUpserted(district_id=district, version=1, user=DirectoryUser(
            id=uuid.uuid4(), district_id=district, sis_id=f"{role[0]}{i:07d}", role=role,
            given_name=rng.choice(("Ana", "Ben", "Chloé", "Dmitri", "Esi", "Farah", "Gus", "Hiro")),
            family_name=f"Family{rng.randint(1, 10 ** 6)}", email=f"user{i}.{district}@example.org",
            phone=f"+1555{rng.randint(0, 9_999_999):07d}" if role != "student" else None,
            sms=f"+1555{rng.randint(0, 9_999_999):07d}" if role == "parent" else None,
            school_ids=at, permissions=permissions))
        out.append((event.model_dump_json().encode(), str(event.event_id)))
    return out


async def publish(exchange_name: str, events: list[tuple[bytes, str]]) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name)
        for start in range(0, len(events), 1000):
            await asyncio.gather(*(
                exchange.publish(aio_pika.Message(body, message_id=mid, type=EVENT, content_type="application/json",
                                                  delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=EVENT)
                for body, mid in events[start:start + 1000]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def applied_span(conn: asyncpg.Connection, table: str, ids: list[str], timeout: float,
                       pid: int | None = None) -> tuple[float, float | None]:
    """Wait until every id is in `table` (inbox_message or the baseline's), then the seconds between
    the first and the last `processed_at`: the consumer's own working time, without its start-up.

    With `pid` (the consumer's process), also its CPU milliseconds per event, from the first poll
    that saw an event applied to the last (start-up left out): unlike the rate, CPU time hardly
    depends on what else the shared machine runs."""
    deadline = time.monotonic() + timeout
    count = f"SELECT count(*) FROM {table} WHERE message_id = ANY($1::text[])"  # table: a constant of this file
    first: tuple[int, float] | None = None
    while (done := await conn.fetchval(count, ids)) < len(ids):
        if pid is not None and first is None and done:
            first = (done, cpu_seconds(pid))
        if time.monotonic() > deadline:
            raise SystemExit(f"{table}: only {done:,} of {len(ids):,} applied after {timeout:.0f} s")
        await asyncio.sleep(1.0)  # the span is read from the rows: polling often would only load the database
    cpu_ms = None
    if pid is not None and first is not None and done > first[0]:
        cpu_ms = (cpu_seconds(pid) - first[1]) * 1000 / (done - first[0])
    span = await conn.fetchval(f"SELECT extract(epoch FROM max(processed_at) - min(processed_at))::float8 "
                               f"FROM {table} WHERE message_id = ANY($1::text[])", ids)
    return span, cpu_ms


# --- the baseline: consume, one write, ack ---------------------------------------------------------
class Baseline:
    def __init__(self, database_url: str, namespace: str, queue_type: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.exchange_name = f"{namespace}.events"
        self.queue_name = f"{namespace}.baseline"
        self.queue_type = queue_type  # the services' own: a quorum queue costs the broker more per message

    async def declare(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS baseline_message (message_id text PRIMARY KEY, "
                               "processed_at timestamptz NOT NULL DEFAULT now())")
        finally:
            await conn.close()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(self.queue_name, durable=True,
                                                arguments={"x-queue-type": self.queue_type})
            await queue.bind(exchange, EVENT)

    async def consume(self, conn: asyncpg.Connection, ids: list[str], timeout: float) -> float:
        pool = await asyncpg.create_pool(self.dsn, min_size=BASELINE_POOL, max_size=BASELINE_POOL)
        connection = await aio_pika.connect(RABBITMQ_URL)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            queue = await channel.get_queue(self.queue_name)

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with pool.acquire() as db:
                    await db.execute("INSERT INTO baseline_message (message_id) VALUES ($1)", message.message_id)
                await message.ack()

            tag = await queue.consume(on_message)
            span, _ = await applied_span(conn, "baseline_message", ids, timeout)
            await queue.cancel(tag)
            return span
        finally:
            await connection.close()
            await pool.close()

    async def drop(self) -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue_name)
            await channel.exchange_delete(self.exchange_name)


# --- sizes ----------------------------------------------------------------------------------------
async def bytes_per_row(conn: asyncpg.Connection, tables: tuple[str, ...]) -> dict[str, tuple[int, float]]:
    await conn.execute("VACUUM ANALYZE")
    out = {}
    for table in tables:
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")  # table: a constant of this file
        size = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
        out[table] = (rows, size / rows if rows else 0.0)
    return out


def print_sizes(label: str, sizes: dict[str, tuple[int, float]]) -> None:
    print(f"  {label:<9} " + "   ".join(f"{t} {rows:,} x {per:,.0f} B" for t, (rows, per) in sizes.items()))


async def sis_sync_sizes(tmp: Path, users: int, schools: int) -> dict[str, tuple[int, float]]:
    """The directory's own tables after a real import of a generated roster (the outbox holds the
    import's events: no relay runs here, as in bench_sis_sync.py)."""
    from pur_kit.migrations import upgrade
    from sis_sync_service.adapters.oneroster import generate_roster
    from sis_sync_service.config import Settings
    from sis_sync_service.service_layer.imports import ImportPipeline

    url = with_database(ADMIN_URL, f"pur_bench_cons_sis_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    try:
        await upgrade(Path(__file__).resolve().parents[1] / "services" / "sis_sync", url)
        roster = generate_roster(tmp / "sizes.zip", schools=schools, students=users // 2, parents=users * 2 // 5,
                                 staff=users // 10, seed=3)
        pipeline = ImportPipeline(Settings(database_url=url))
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            lsn = await conn.fetchval("SELECT pg_current_wal_lsn()")
            outcome = await pipeline.execute(
                await pipeline.begin("bench-sizes", source="cli", source_name="sizes.zip"), roster)
            if outcome.status != "succeeded":
                raise SystemExit(f"sis_sync import for the sizes failed: {outcome.failure}")
            wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", lsn)
            print(f"  sis_sync first import of {users:,} users: WAL {wal / users:,.0f} B/user (whole cluster)")
            return await bytes_per_row(conn, ("directory_user", "school", "outbox_message"))
        finally:
            await conn.close()
    finally:
        await drop_database(url)


async def request_sizes(stacks: dict[str, Stack], namespaces: dict[str, str], conns: dict[str, asyncpg.Connection],
                        events: list[tuple[bytes, str]], district: str) -> None:
    """Submissions through the real requests process (one per user of `events`, half with a note),
    their `request.submitted` events replayed into the digest: the request tables' bytes per row."""
    import httpx
    from pur_contracts import DistrictSettings, DistrictSettingsChanged
    from pur_kit.auth import mint_token

    enable = DistrictSettingsChanged(district_id=district, version=1, settings=DistrictSettings(
        district_id=district, version=1, profile_update_requests_enabled=True))
    submitted = "request.submitted"
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for name in ("requests", "digest"):
            await publish(f"{namespaces[name]}.events", events)
        exchange = await channel.get_exchange(f"{namespaces['requests']}.events")
        await exchange.publish(aio_pika.Message(enable.model_dump_json().encode(), message_id=str(enable.event_id),
                                                type=enable.event_name, content_type="application/json",
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key=enable.event_name)
        spy = await channel.declare_queue(f"{namespaces['requests']}.bench-spy", durable=True)
        await spy.bind(exchange, submitted)
        stack = stacks["requests"]
        stack.start()
        try:
            await stack.wait_ready(timeout=120)
            await applied_span(conns["requests"], "inbox_message", [mid for _, mid in events] + [str(enable.event_id)],
                               600)
            users = [json.loads(body)["user"]["id"] for body, _ in events]
            port = stack.specs[0].port
            failures = 0

            async def submit(part: list[str]) -> None:
                nonlocal failures
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    for n, user in enumerate(part):
                        body = {"changes": {"email": f"new.{user[:8]}@example.org"}}
                        if n % 2:
                            body["note"] = "I changed my email address last month; the school has the old one."
                        token = mint_token(DEV_JWT_SECRET, sub=user, district_id=district)
                        r = await client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})
                        failures += r.status_code != 201

            await asyncio.gather(*(submit(users[k::8]) for k in range(8)))
            if failures:
                raise SystemExit(f"{failures} of {len(users)} submissions failed")
            bodies: list[tuple[bytes, str]] = []
            deadline = time.monotonic() + 120
            while len(bodies) < len(users) and time.monotonic() < deadline:
                message = await spy.get(fail=False, timeout=5)
                if message is None:
                    await asyncio.sleep(0.1)
                    continue
                bodies.append((message.body, message.message_id))
                await message.ack()
        finally:
            stack.stop()
            await spy.delete(if_unused=False, if_empty=False)
        digest = await channel.get_exchange(f"{namespaces['digest']}.events")
        for start in range(0, len(bodies), 1000):
            await asyncio.gather(*(
                digest.publish(aio_pika.Message(body, message_id=mid, type=submitted, content_type="application/json",
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=submitted)
                for body, mid in bodies[start:start + 1000]))
    stack = stacks["digest"]
    stack.start()
    try:
        await applied_span(conns["digest"], "inbox_message", [mid for _, mid in events + bodies], 600)
    finally:
        stack.stop()
    print_sizes("requests", await bytes_per_row(conns["requests"], ("request", "request_school", "request_history")))
    print_sizes("digest", await bytes_per_row(conns["digest"], ("request", "request_school")))
    print(f"  request.submitted body: {statistics.mean(len(b) for b, _ in bodies):,.0f} B on average (JSON)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--queue-type", choices=("classic", "quorum"), default=DEFAULT_QUEUE_TYPE,
                        help="the consumer queues' type, for the services and the baseline (default: the "
                             "kit's, %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a round may take")
    parser.add_argument("--sizes", type=int, default=20_000,
                        help="users of the sis_sync import measured for sizes (a tenth of them submit a "
                             "request, for the request tables); 0 skips")
    args = parser.parse_args()
    services = [s for s in args.services.split(",") if s]
    unknown = set(services) - set(SERVICES)
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    rng = random.Random(7)
    tag = uuid.uuid4().hex[:8]
    dbs = {name: with_database(ADMIN_URL, f"pur_bench_cons_{name}_{tag}") for name in ["baseline", *services]}
    namespaces = {name: f"benchc{tag}{name[:3]}" for name in dbs}
    tmp = Path(tempfile.mkdtemp(prefix="bench-consumers-"))
    specs = {name: ServiceSpec(name, free_port(), dbs[name],
                               {f"{name.upper()}_QUEUE_TYPE": args.queue_type}
                               | ({"DIGEST_SMTP_PORT": str(free_port()), "DIGEST_SCHEDULER_ENABLED": "false"}
                                  if name == "digest" else {}))
             for name in services}
    stacks = {name: Stack([spec], rabbitmq_url=RABBITMQ_URL, namespace=namespaces[name], jwt_secret=DEV_JWT_SECRET,
                          echo=False, log_dir=tmp) for name, spec in specs.items()}
    baseline = Baseline(dbs["baseline"], namespaces["baseline"], args.queue_type)
    conns: dict[str, asyncpg.Connection] = {}
    rates: dict[str, list[float]] = {name: [] for name in dbs}
    cpu: dict[str, list[float]] = {name: [] for name in services}
    wal: dict[str, list[float]] = {name: [] for name in dbs}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.events:,} "
          f"{EVENT} per round, {args.schools} schools, {args.queue_type} queues; logs in {tmp}", flush=True)
    try:
        for url in dbs.values():
            await ensure_database(url)
        await baseline.declare()
        # A first start migrates each database and declares the service's queues and bindings,
        # which outlive the process: the next rounds publish into them while it is stopped.
        for name, stack in stacks.items():
            stack.start()
            await stack.wait_ready(timeout=120)
            stack.stop()
        for name, url in dbs.items():
            conns[name] = await asyncpg.connect(asyncpg_dsn(url))
        for round_no in range(1, args.rounds + 1):
            line = []
            for name in dbs:
                district = f"bench-r{round_no}-{name}"
                events = district_events(district, args.events, args.schools, rng)
                ids = [mid for _, mid in events]
                await publish(f"{namespaces[name]}.events", events)
                # WAL of the whole cluster while this consumer works: other databases' writes add to it,
                # so the least of the rounds is printed (an upper bound of the consumer's own).
                lsn = await conns[name].fetchval("SELECT pg_current_wal_lsn()")
                if name == "baseline":
                    span = await baseline.consume(conns[name], ids, args.timeout)
                else:
                    stacks[name].start()
                    try:
                        span, cpu_ms = await applied_span(conns[name], "inbox_message", ids, args.timeout,
                                                          pid=stacks[name].processes[name].pid)
                        if cpu_ms is not None:
                            cpu[name].append(cpu_ms)
                        users = await conns[name].fetchval(
                            "SELECT count(*) FROM directory_user WHERE district_id = $1", district)
                    finally:
                        stacks[name].stop()
                    if users != args.events:
                        raise SystemExit(f"{name}: {users:,} of {args.events:,} users in its projection")
                rates[name].append(args.events / span)
                wal[name].append(await conns[name].fetchval(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", lsn) / args.events)
                line.append(f"{name} {rates[name][-1]:,.0f}"
                            + (f" ({cpu[name][-1]:.3f} ms CPU)" if name in cpu and cpu[name] else ""))
            print(f"round {round_no}: " + "   ".join(line) + " events/s", flush=True)
        base = statistics.median(rates["baseline"])
        print(f"\napplied events/s, median of {args.rounds} rounds ({args.events:,} events each):")
        print(f"  {'baseline (aio-pika + one asyncpg insert)':<42} {base:8,.0f}   "
              f"WAL {min(wal['baseline']):,.0f} B/event")
        for name in services:
            med = statistics.median(rates[name])
            cpu_ms = f"{statistics.median(cpu[name]):.3f}" if cpu[name] else "?"
            print(f"  {name + ' (one pur-' + name + ' serve process)':<42} {med:8,.0f}   ratio {med / base:.2f}   "
                  f"({1000 / med:.2f} ms per event, process CPU {cpu_ms} ms)   WAL {min(wal[name]):,.0f} B/event")
        print("\nbytes per row (pg_total_relation_size / rows, after VACUUM ANALYZE):")
        tables = {"baseline": ("baseline_message",)}
        tables.update({name: ("directory_user", "inbox_message") for name in services})
        for name, names in tables.items():
            print_sizes(name, await bytes_per_row(conns[name], names))
        body = statistics.mean(len(b) for b, _ in district_events("bench-size", 1000, args.schools, rng))
        print(f"  {EVENT} body: {body:,.0f} B on average (JSON)")
        if args.sizes and {"requests", "digest"} <= set(services):
            print_sizes("sis_sync", await sis_sync_sizes(tmp, args.sizes, args.schools))
            await request_sizes(stacks, namespaces, conns,
                                district_events("bench-sizes", args.sizes // 10, args.schools, rng), "bench-sizes")
    finally:
        for stack in stacks.values():
            stack.stop()
        for conn in conns.values():
            await conn.close()
        with contextlib.suppress(Exception):
            await baseline.drop()
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(RABBITMQ_URL)
            async with connection:
                channel = await connection.channel()
                for name in services:
                    for queue in Topology(namespaces[name], args.queue_type).all_queues():
                        await channel.queue_delete(queue)
                    await channel.exchange_delete(f"{namespaces[name]}.events")
        for url in dbs.values():
            await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
