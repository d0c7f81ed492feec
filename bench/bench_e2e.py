"""End-to-end latency: from `POST /api/v1/requests` returning to the request being in the digest
service's projection, at 100 submissions/s, with the four services running as real processes.

    .venv/bin/python bench/bench_e2e.py [--rate 100] [--seconds 10]

Where the time goes is split at the broker: a spy queue on the exchange timestamps each
`request.submitted` (return -> broker: the requests service's outbox relay), and a trigger on the
digest's `request` table NOTIFYs this process when the row lands (broker -> projection: the digest
consumer). The baseline, measured in the same run, is the broker alone: a confirmed persistent
publish until a consumer has the message, at the same rate.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from pur_contracts import Topology
from pur_kit.auth import mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.db import asyncpg_dsn, with_database
from pur_kit.devstack import ServiceSpec, Stack
from pur_kit.migrations import drop_database, ensure_database
from pur_kit.testing import free_port
from bench_requests import _exchange, post
from sis_sync_service.adapters.oneroster import generate_roster

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
DISTRICT = "bench"
SYSTEM = {"Authorization": f"Bearer {mint_token(DEV_JWT_SECRET, sub='system', system=True)}"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def line(label: str, values: list[float]) -> str:
    return f"  {label:<34} p50 {pct(values, .5):7.1f} ms   p99 {pct(values, .99):7.1f} ms   (n={len(values)})"


async def broker_baseline(exchange_name: str, count: int, rate: float) -> list[float]:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{exchange_name}.baseline", durable=True, auto_delete=True)
        await queue.bind(exchange, "baseline.#")
        sent: dict[str, float] = {}
        got: dict[str, float] = {}

        async def on_message(message):
            got[message.message_id] = time.perf_counter()
            await message.ack()

        await queue.consume(on_message)
        next_at = time.perf_counter()
        for i in range(count):
            mid = str(i)
            sent[mid] = time.perf_counter()
            await exchange.publish(aio_pika.Message(b'{"x": 1}', message_id=mid,
                                                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                   routing_key="baseline.x")
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        while len(got) < count:
            await asyncio.sleep(0.01)
        await queue.delete(if_unused=False, if_empty=False)
    return [(got[k] - sent[k]) * 1000 for k in sent]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    exchange_name = f"{namespace}.events"
    dbs = {name: with_database(ADMIN_URL, f"pur_bench_e2e_{name}_{uuid.uuid4().hex[:6]}")
           for name in ("sis_sync", "settings", "requests", "digest")}
    for url in dbs.values():
        await ensure_database(url)
    ports = {name: free_port() for name in dbs}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    stack = Stack([ServiceSpec(name, ports[name], dbs[name],
                               {"DIGEST_SMTP_PORT": str(free_port()), "DIGEST_SCHEDULER_ENABLED": "false"}
                               if name == "digest" else {})
                   for name in dbs], rabbitmq_url=RABBITMQ_URL, namespace=namespace,
                  jwt_secret=DEV_JWT_SECRET, echo=False, log_dir=tmp)
    stack.start()
    listener = None
    try:
        await stack.wait_ready(timeout=120)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
            roster = generate_roster(tmp / "roster.zip", schools=2, students=400, parents=0, staff=10, seed=11)
            r = await client.post(f"{urls['sis_sync']}/api/v1/districts/{DISTRICT}/sis-imports",
                                  files={"file": ("r.zip", roster.read_bytes(), "application/zip")}, headers=SYSTEM)
            run_id = r.json()["id"]
            while (await client.get(f"{urls['sis_sync']}/api/v1/sis-imports/{run_id}", headers=SYSTEM)).json()["status"] in ("queued", "running"):
                await asyncio.sleep(0.2)
            users = (await client.get(f"{urls['sis_sync']}/api/v1/directory/users",
                                      params={"district_id": DISTRICT, "role": "student", "limit": 200},
                                      headers=SYSTEM)).json()["items"]
            # 404 until the settings service has consumed the imported directory (the district is unknown).
            while (enabled := await client.patch(f"{urls['settings']}/api/v1/districts/{DISTRICT}/settings",
                                                 json={"profile_update_requests_enabled": True},
                                                 headers=SYSTEM)).status_code == 404:
                await asyncio.sleep(0.2)
            enabled.raise_for_status()
            headers = [{"Authorization": f"Bearer {mint_token(DEV_JWT_SECRET, sub=u['id'], district_id=DISTRICT)}"}
                       for u in users]
            while (warm := await client.post(f"{urls['requests']}/api/v1/requests", json={"note": "warm-up"},
                                             headers=headers[0])).status_code != 201:
                await asyncio.sleep(0.2)
            # Start timing once the digest has worked through the import's directory events: the
            # warm-up request, published after them, is in its projection.
            digest_db = await asyncpg.connect(asyncpg_dsn(dbs["digest"]))
            try:
                while not await digest_db.fetchval("SELECT 1 FROM request WHERE id = $1::uuid", warm.json()["id"]):
                    await asyncio.sleep(0.1)
            finally:
                await digest_db.close()

            # Instrument the digest's projection and the broker.
            listener = await asyncpg.connect(asyncpg_dsn(dbs["digest"]))
            await listener.execute("""
                CREATE OR REPLACE FUNCTION bench_notify() RETURNS trigger AS $$
                BEGIN PERFORM pg_notify('bench_request', NEW.id::text); RETURN NULL; END $$ LANGUAGE plpgsql;
                CREATE TRIGGER bench_notify AFTER INSERT ON request FOR EACH ROW EXECUTE FUNCTION bench_notify();
            """)
            in_projection: dict[str, float] = {}
            await listener.add_listener("bench_request",
                                        lambda *a: in_projection.setdefault(a[3], time.perf_counter()))
            on_broker: dict[str, float] = {}
            amqp = await aio_pika.connect(RABBITMQ_URL)
            channel = await amqp.channel()
            exchange = await channel.get_exchange(exchange_name)
            spy = await channel.declare_queue(exclusive=True)
            await spy.bind(exchange, "request.submitted")

            async def on_spy(message):
                on_broker.setdefault(json.loads(message.body)["request"]["id"], time.perf_counter())
                await message.ack()

            await spy.consume(on_spy)

            returned: dict[str, float] = {}
            post_ms: list[float] = []
            failures = 0
            # The timed submissions go through a lean keep-alive HTTP/1.1 client (bench_requests.py):
            # httpx costs more CPU per request than the service itself, on the same 2 cores.
            port = ports["requests"]
            auth = [h["Authorization"] for h in headers]
            per_connection = 8
            interval = per_connection / args.rate
            started = time.perf_counter()

            async def submitter(offset: int) -> None:
                nonlocal failures
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    for n, i in enumerate(range(offset, count, per_connection)):
                        due = started + offset * (1 / args.rate) + n * interval
                        await asyncio.sleep(max(0.0, due - time.perf_counter()))
                        t0 = time.perf_counter()
                        body = json.dumps({"note": f"bench {i}"}).encode()
                        status, payload = await _exchange(reader, writer, post(
                            "/api/v1/requests", body, f"Authorization: {auth[i % len(auth)]}\r\n"))
                        now = time.perf_counter()
                        if status != 201:
                            failures += 1
                            continue
                        post_ms.append((now - t0) * 1000)
                        returned[json.loads(payload)["id"]] = now
                finally:
                    writer.close()

            await asyncio.gather(*(submitter(k) for k in range(per_connection)))
            deadline = time.monotonic() + 30
            while len([k for k in returned if k in in_projection]) < len(returned) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await amqp.close()

        total = [(in_projection[k] - t) * 1000 for k, t in returned.items() if k in in_projection]
        relay = [(on_broker[k] - t) * 1000 for k, t in returned.items() if k in on_broker]
        consume = [(in_projection[k] - on_broker[k]) * 1000 for k in returned if k in on_broker and k in in_projection]
        baseline = await broker_baseline(exchange_name, min(count, 1000), args.rate)
        print(f"end-to-end at {args.rate:.0f} submissions/s for {args.seconds:.0f} s "
              f"({len(returned)} accepted, {failures} failed, {len(total)} reached the digest projection):")
        print(line("POST /api/v1/requests (HTTP)", post_ms))
        print(line("POST returned -> in digest projection", total) + "   (target p99 < 100 ms)")
        print(line("  of which: returned -> on broker", relay) + "   (requests outbox relay)")
        print(line("  of which: broker -> projection", consume) + "   (digest consumer)")
        print(line("baseline: broker alone", baseline))
        print(f"  ratio p99 end-to-end / broker alone: {pct(total, .99) / pct(baseline, .99):.1f}x; "
              f"median {statistics.median(total):.1f} ms")
    finally:
        if listener is not None:
            await listener.close()
        stack.stop()
        for url in dbs.values():
            await drop_database(url)
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(RABBITMQ_URL)
            async with connection:
                ch = await connection.channel()
                for queue in Topology(namespace).queues_of_every_type():
                    await ch.queue_delete(queue)
                await ch.exchange_delete(exchange_name)


if __name__ == "__main__":
    asyncio.run(main())
