"""Outbox relay publishing: the relay's raw aiormq path against FastStream's publishers, back to back.

    .venv/bin/python bench/bench_relay_publish.py [--rounds 7] [--batch 100 500] [--messages 2000]

Each measurement publishes `--messages` persistent messages (~600-byte JSON bodies, message_id,
type, correlation_id and app_id set) in batches of N, as the relay does: a batch is put in flight
at once and the next one starts when every confirm of the previous one has come back. Variants:

- raw: the relay's own publisher, `pur_kit.confirmed_publisher.ConfirmedPublisher` (aiormq, a
  write queue that holds a batch, confirms, `basic_publish(..., wait=False)` for the whole batch);
- fs_publisher: FastStream 0.7 `RabbitBroker(logger=None)`, one `broker.publisher(...)` object,
  `asyncio.gather` of `publisher.publish(body, ...)`, confirms on (FastStream's default channel);
- fs_broker: `asyncio.gather` of `broker.publish(body, ...)` with pre-serialized bytes;
- fs_message: `publisher.publish(aio_pika.Message(...))`, which FastStream passes through unencoded.

FastStream 0.7.8 exposes no frame buffer size (it opens `aio_pika.connect_robust` itself) and no
per-publisher channel (publishers share the broker's `default_channel`); spreading a batch over
several brokers (connections) measured no better on this machine, and loses the batch's order.

Each variant keeps one connection for the whole run, as the relay does. Rounds alternate the order
of the variants, the queue is purged before every measurement, medians and FastStream/raw ratios
are printed per batch size. RabbitMQ must be local (RABBITMQ_URL, default 127.0.0.1).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import aiormq
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitPublisher
from pur_kit.confirmed_publisher import ConfirmedPublisher
from yarl import URL

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
EVENT_NAMES = ("request.submitted", "request.marked_done", "directory.school_upserted")
APP_ID = "pur"
DEADLINE_SECONDS = 170


@dataclass(frozen=True)
class Row:
    """One claimed outbox row, as the relay reads it (payload is text, as stored)."""

    event_id: str
    event_name: str
    payload: str
    correlation_id: str

    @property
    def routing_key(self) -> str:
        return self.event_name

    def __getitem__(self, column: str) -> str:  # read as the relay reads an asyncpg record
        return getattr(self, column)


def make_rows(count: int) -> list[Row]:
    rows = []
    for i in range(count):
        event_id = str(uuid.uuid4())
        body = {"event_id": event_id, "event_name": EVENT_NAMES[i % 3], "version": i,
                "district_id": "bench-district", "occurred_at": "2026-11-30T09:00:00+00:00"}
        body["padding"] = "x" * (600 - len(json.dumps(body)) - 14)
        rows.append(Row(event_id, EVENT_NAMES[i % 3], json.dumps(body), uuid.uuid4().hex))
    return rows


class Raw:
    """The relay's own publisher (`pur_kit.confirmed_publisher`), exactly as the relay uses it."""

    name = "raw"

    def __init__(self, exchange: str) -> None:
        self.publisher = ConfirmedPublisher(RABBITMQ_URL, exchange, app_id=APP_ID)

    async def open(self) -> None:
        await self.publisher.connect()

    async def publish(self, rows: list[Row]) -> None:
        await self.publisher.publish(rows)

    async def close(self) -> None:
        await self.publisher.close()


class FastStreamBase:
    name = "faststream"

    def __init__(self, exchange: str) -> None:
        self.broker = RabbitBroker(RABBITMQ_URL, logger=None, app_id=APP_ID)
        self.exchange = RabbitExchange(exchange, type=ExchangeType.TOPIC, durable=True, declare=False)
        self.publisher: RabbitPublisher = self.broker.publisher(
            exchange=self.exchange, persist=True, mandatory=False, content_type="application/json",
        )

    async def open(self) -> None:
        await self.broker.start()

    async def publish(self, rows: list[Row]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        await self.broker.stop()


class FsPublisher(FastStreamBase):
    name = "fs_publisher"

    async def publish(self, rows: list[Row]) -> None:
        await asyncio.gather(*(
            self.publisher.publish(row.payload.encode(), routing_key=row.event_name,
                                   message_id=row.event_id, message_type=row.event_name,
                                   correlation_id=row.correlation_id)
            for row in rows
        ))


class FsBroker(FastStreamBase):
    name = "fs_broker"

    async def publish(self, rows: list[Row]) -> None:
        await asyncio.gather(*(
            self.broker.publish(row.payload.encode(), exchange=self.exchange, routing_key=row.event_name,
                                persist=True, mandatory=False, content_type="application/json",
                                message_id=row.event_id, message_type=row.event_name,
                                correlation_id=row.correlation_id)
            for row in rows
        ))


class FsMessage(FastStreamBase):
    name = "fs_message"

    async def publish(self, rows: list[Row]) -> None:
        await asyncio.gather(*(
            self.publisher.publish(
                aio_pika.Message(row.payload.encode(), content_type="application/json",
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=row.event_id,
                                 type=row.event_name, correlation_id=row.correlation_id, app_id=APP_ID),
                routing_key=row.event_name,
            )
            for row in rows
        ))


Variant = Raw | FsPublisher | FsBroker | FsMessage


async def measure(
    variant: Variant, rows: list[Row], batch: int, purge: Callable[[], Awaitable[object]],
) -> float:
    """Messages/s publishing `rows` in batches, each batch fully confirmed before the next."""
    await purge()
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        await variant.publish(rows[i:i + batch])
    return len(rows) / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    ns = f"bench{uuid.uuid4().hex[:8]}"
    exchange, queue = f"{ns}.events", f"{ns}.sink"
    admin = await aiormq.connect(RABBITMQ_URL)
    channel = await admin.channel()
    await channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    await channel.queue_declare(queue, durable=True)
    await channel.queue_bind(queue, exchange, routing_key="#")
    variants: list[Variant] = [cls(exchange) for cls in (Raw, FsPublisher, FsBroker, FsMessage)]
    rates: dict[tuple[int, str], list[float]] = {}
    print(f"load average at start {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    try:
        for variant in variants:
            await variant.open()
            await variant.publish(make_rows(max(args.batch)))  # warm-up: connection, exchange, code paths
        rows = make_rows(args.messages)
        for round_no in range(args.rounds):
            order = variants if round_no % 2 == 0 else variants[::-1]
            for batch in args.batch:
                line = []
                for variant in order:
                    rate = await measure(variant, rows, batch, lambda: channel.queue_purge(queue))
                    rates.setdefault((batch, variant.name), []).append(rate)
                    line.append(f"{variant.name} {rate:7,.0f}")
                print(f"round {round_no + 1} batch {batch:4}: " + "  ".join(line) + "  msg/s", flush=True)
    finally:
        for variant in variants:
            await variant.close()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
        await admin.close()
    print_table(args, [v.name for v in variants], rates)


def print_table(
    args: argparse.Namespace, names: list[str], rates: dict[tuple[int, str], list[float]],
) -> None:
    print(f"\nmedian msg/s over {args.rounds} rounds, {args.messages} messages per measurement "
          f"(ratio = variant / raw); load average {os.getloadavg()[0]:.2f}")
    print(f"{'batch':>5}  " + "  ".join(f"{name:>19}" for name in names))
    for batch in args.batch:
        raw = statistics.median(rates[(batch, "raw")])
        cells = []
        for name in names:
            median = statistics.median(rates[(batch, name)])
            cells.append(f"{median:9,.0f} ({median / raw:4.2f}x)")
        print(f"{batch:>5}  " + "  ".join(f"{cell:>19}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--messages", type=int, default=2000, help="messages per measurement")
    args = parser.parse_args()
    if URL(RABBITMQ_URL).host not in LOCAL_HOSTS:
        parser.error(f"RabbitMQ must be local, not {URL(RABBITMQ_URL).host}")
    asyncio.run(asyncio.wait_for(run(args), DEADLINE_SECONDS))


if __name__ == "__main__":
    main()
