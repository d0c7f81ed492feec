"""PATCH throughput and change-to-event latency of the settings service, in-process, against the
real PostgreSQL and RabbitMQ (a fresh database and namespace, both removed afterwards).

    .venv/bin/python services/settings/bench/patch_throughput.py [--patches 300] [--districts 20]

Sequential: one district changed PATCH after PATCH (each: auth, row lock, update, outbox insert).
Contended: `--districts` districts, all their PATCHes in flight at once (they queue on each row lock).
Latency: PATCH answered -> its `settings.district.changed` received from a queue on the exchange.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
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
from pur_kit.logging import configure_logging
from pur_kit.migrations import drop_database, ensure_database, upgrade
from pur_kit.testing import wait_until
from settings_service.config import Settings
from settings_service.entrypoints.app import create_app

SERVICE_DIR = Path(__file__).resolve().parents[1]
PG = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
MQ = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def receive_into(arrived: dict, connection, exchange: str) -> None:
    channel = await connection.channel()
    ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(ex, "settings.district.changed")

    async def on_message(message) -> None:
        body = json.loads(message.body)
        arrived[(body["district_id"], body["version"])] = time.perf_counter()
        await message.ack()

    await queue.consume(on_message)


async def run(patches: int, districts: int) -> None:
    url = with_database(PG, f"pur_bench_settings_{uuid.uuid4().hex[:8]}")
    topology = Topology(f"bench{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    await upgrade(SERVICE_DIR, url)
    await _known_districts(url, ["bench-seq", *(f"bench-{d}" for d in range(districts))])
    app = create_app(Settings(database_url=url, rabbitmq_url=MQ, events_namespace=topology.namespace,
                              db_pool_size=10, log_level="WARNING"))
    headers = {"Authorization": f"Bearer {mint_token(DEV_JWT_SECRET, sub='system', system=True)}"}
    answered: dict[tuple[str, int], float] = {}
    arrived: dict[tuple[str, int], float] = {}
    connection = await aio_pika.connect(MQ)
    try:
        await receive_into(arrived, connection, topology.exchange)
        async with app.state.runtime.lifespan(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            await wait_until(lambda: app.state.runtime.broker_started)

            async def patch(district: str, i: int) -> None:
                body = {"notifications": {"digest_local_time": f"{i // 60 % 24:02d}:{i % 60:02d}"}}
                r = await client.patch(f"/api/v1/districts/{district}/settings", headers=headers, json=body)
                assert r.status_code == 200, r.text
                answered[(district, r.json()["version"])] = time.perf_counter()

            started = time.perf_counter()
            for i in range(patches):
                await patch("bench-seq", i + 1)
            sequential = time.perf_counter() - started
            per_district = max(1, patches // districts)
            started = time.perf_counter()
            await asyncio.gather(*(patch(f"bench-{d}", i + 1) for d in range(districts) for i in range(per_district)))
            contended = time.perf_counter() - started
            await wait_until(lambda: len(arrived) >= len(answered), timeout=60, message="every event received")
    finally:
        await connection.close()
        await drop_database(url)
        await _delete_topology(topology)
    latency = [(arrived[key] - at) * 1000 for key, at in answered.items()]
    print(f"sequential: {patches} PATCHes in {sequential:.2f}s = {patches / sequential:.0f}/s")
    print(f"contended:  {districts} districts x {per_district} PATCHes in flight, {contended:.2f}s = "
          f"{districts * per_district / contended:.0f}/s")
    print(f"PATCH answered -> event received ({len(latency)} events): median {statistics.median(latency):.1f} ms, "
          f"p95 {statistics.quantiles(latency, n=20)[18]:.1f} ms")


async def _known_districts(url: str, districts: list[str]) -> None:
    """Settings exist only for districts the directory told of: one directory user each."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.executemany("INSERT INTO directory_user (id, district_id, version, active, district_admin) "
                               "VALUES ($1, $2, 1, true, false)", [(uuid.uuid4(), d) for d in districts])
    finally:
        await conn.close()


async def _delete_topology(topology: Topology) -> None:
    connection = await aio_pika.connect(MQ)
    try:
        for name in topology.all_queues():
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except Exception:
                pass
        await (await connection.channel()).exchange_delete(topology.exchange)
    finally:
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--patches", type=int, default=300)
    parser.add_argument("--districts", type=int, default=20)
    args = parser.parse_args()
    configure_logging("settings-bench", "WARNING")
    asyncio.run(run(args.patches, args.districts))
