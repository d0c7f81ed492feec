"""Outbox relay throughput and commit-to-broker latency, against raw aio-pika in the same run.

    .venv/bin/python bench/bench_outbox.py [--events 50000] [--rounds 2]

Throughput: N events are committed through the outbox, then the relay publishes them (confirms,
persistent, batches) into a durable queue; the baseline publishes the same N messages straight
from aio-pika with confirms, pipelined with the same number in flight. Rounds alternate
raw/relay so both see the same machine noise; medians and the ratio are printed.
Latency: events committed one at a time at ~100/s while the relay runs; the time from each commit
returning to the message arriving at a consumer.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid

import aio_pika
from pur_contracts import DirectorySchool, DirectorySchoolUpserted
from pur_kit.db import make_engine, make_metadata, with_database
from pur_kit.messaging_tables import CREATE_NOTIFY_TRIGGER, outbox_table
from pur_kit.migrations import drop_database, ensure_database
from pur_kit.outbox import OutboxRelay
from pur_kit.uow import Database

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
BATCH = 500


def make_events(n: int) -> list[DirectorySchoolUpserted]:
    return [
        DirectorySchoolUpserted(district_id="bench", version=i,
                                school=DirectorySchool(id=f"s{i}", district_id="bench", name="School"))
        for i in range(n)
    ]


async def sink(channel, exchange_name: str, queue_name: str):
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(queue_name, durable=True)
    await queue.bind(exchange, "#")
    return exchange, queue


async def raw_publish(events, exchange_name: str) -> float:
    bodies = [(e.model_dump_json().encode(), str(e.event_id), e.event_name) for e in events]
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name)
        started = time.perf_counter()
        for i in range(0, len(bodies), BATCH):
            await asyncio.gather(*(
                exchange.publish(aio_pika.Message(body, message_id=mid, type=name,
                                                  content_type="application/json",
                                                  delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                 routing_key=name, mandatory=False)
                for body, mid, name in bodies[i:i + BATCH]
            ))
        return time.perf_counter() - started


async def commit_events(database: Database, events) -> None:
    async with database.unit_of_work() as uow:
        uow.publish_all(events)
        await uow.commit()


async def relay_publish(events, db_url, database: Database, exchange_name: str) -> float:
    for i in range(0, len(events), 5000):
        await commit_events(database, events[i:i + 5000])
    relay = OutboxRelay(db_url, RABBITMQ_URL, exchange_name, batch_size=BATCH, poll_seconds=0.05)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    while relay.published < len(events):
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    relay.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return elapsed


async def latency(db_url, database: Database, exchange_name: str, queue, count: int, rate: float) -> list[float]:
    arrived: dict[str, float] = {}

    async def on_message(message):
        arrived[message.message_id] = time.perf_counter()
        await message.ack()

    tag = await queue.consume(on_message)
    relay = OutboxRelay(db_url, RABBITMQ_URL, exchange_name, batch_size=BATCH, poll_seconds=5.0)
    task = asyncio.create_task(relay.run())
    while not relay.connected:
        await asyncio.sleep(0.01)
    committed: dict[str, float] = {}
    interval = 1 / rate
    next_at = time.perf_counter()
    for event in make_events(count):
        await commit_events(database, [event])
        committed[str(event.event_id)] = time.perf_counter()
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    while len(arrived) < count:
        await asyncio.sleep(0.01)
    relay.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await queue.cancel(tag)
    return sorted((arrived[k] - committed[k]) * 1000 for k in committed)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


metadata = make_metadata()
OUTBOX = outbox_table(metadata)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-events", type=int, default=1000)
    args = parser.parse_args()

    db_url = with_database(ADMIN_URL, f"pur_bench_outbox_{uuid.uuid4().hex[:8]}")
    await ensure_database(db_url)
    engine = make_engine(db_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for statement in CREATE_NOTIFY_TRIGGER:
            await conn.exec_driver_sql(statement)
    await engine.dispose()
    database = Database(db_url, 4, consumer="bench.main")
    await database.start()
    ns = f"bench{uuid.uuid4().hex[:8]}"
    exchange_name, queue_name = f"{ns}.events", f"{ns}.sink"
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    _, queue = await sink(channel, exchange_name, queue_name)
    raw_rates, relay_rates = [], []
    try:
        events = make_events(args.events)
        for round_no in range(args.rounds):
            raw = await raw_publish(events, exchange_name)
            await queue.purge()
            relay = await relay_publish(make_events(args.events), db_url, database, exchange_name)
            await queue.purge()
            raw_rates.append(args.events / raw)
            relay_rates.append(args.events / relay)
            print(f"round {round_no + 1}: raw aio-pika {raw_rates[-1]:,.0f} ev/s   outbox relay {relay_rates[-1]:,.0f} ev/s")
        raw_med, relay_med = statistics.median(raw_rates), statistics.median(relay_rates)
        print(f"throughput ({args.events:,} events, median of {args.rounds}): raw {raw_med:,.0f} ev/s, "
              f"relay {relay_med:,.0f} ev/s, ratio {relay_med / raw_med:.2f} (target >= 0.70)")
        lat = await latency(db_url, database, exchange_name, queue, args.latency_events, 100.0)
        print(f"commit-to-broker latency at 100 ev/s ({len(lat)} events): p50 {pct(lat, .5):.1f} ms, "
              f"p99 {pct(lat, .99):.1f} ms, max {lat[-1]:.1f} ms (target p99 <= 50 ms)")
    finally:
        with contextlib.suppress(Exception):
            await queue.delete(if_unused=False, if_empty=False)
            await channel.exchange_delete(exchange_name)
        await connection.close()
        await database.close()
        await drop_database(db_url)


if __name__ == "__main__":
    asyncio.run(main())
