"""Quorum against classic consumer queues on the same broker, back to back.

    .venv/bin/python bench/bench_queue_types.py [--rounds 5] [--messages 10000]

What a roster import does to the broker: the outbox relay publishes directory events to the topic
exchange (`pur_kit.confirmed_publisher.ConfirmedPublisher`, persistent, batches of 500 in flight,
every confirm awaited), and each event is routed to three consumer queues (`settings.main`,
`requests.main`, `digest.main`: `pur_contracts.SUBSCRIPTIONS`), which three consumers drain
at once with the kit's settings (prefetch 32, a manual ack per message). The queues are declared
exactly as the kit declares them (`pur_kit.consumer.queue_arguments`: a quorum queue
dead-letters at least once, with its `.retry` and `.dlq` partners), once with each queue type.

Each round measures both types, in alternating order: the publish rate (events/s, confirmed: each
event stored in three queues), then the drain rate (deliveries acked per second over the three
queues). Medians and quorum/classic ratios are printed. The consumers here do no work: this is the
broker's share of a message's cost, to be compared with what a service does per message
(bench_consumers.py: a few hundred to a thousand events/s a replica). RabbitMQ must be local.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid

import aio_pika
from pur_contracts import Topology
from pur_kit.confirmed_publisher import ConfirmedPublisher
from pur_kit.consumer import queue_arguments
from yarl import URL

from bench_relay_publish import Row  # an outbox row as the relay reads it (this folder)

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CONSUMERS = ("settings", "requests", "digest")  # the three queues a directory.user.upserted reaches
ROUTING_KEY = "directory.user.upserted"
BATCH = 500       # the relay's default outbox_batch_size
PREFETCH = 32     # the kit's default consumer_prefetch
DEADLINE_SECONDS = 600


def make_rows(count: int) -> list[Row]:
    """~700-byte bodies: a user with two schools, the size capacity.md assumes."""
    rows = []
    for i in range(count):
        event_id = str(uuid.uuid4())
        body = {"event_id": event_id, "event_name": ROUTING_KEY, "version": i, "district_id": "bench"}
        body["padding"] = "x" * (700 - len(json.dumps(body)) - 14)
        rows.append(Row(event_id, ROUTING_KEY, json.dumps(body), uuid.uuid4().hex))
    return rows


async def declare(channel: aio_pika.abc.AbstractChannel, topology: Topology) -> list[str]:
    """The three consumer queues of `topology`'s type with their partners, bound as the kit binds them."""
    exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    names = []
    for consumer in CONSUMERS:
        queue = topology.queue(consumer)
        dlq, retry = topology.dead_letter_queue(queue), topology.retry_queue(queue)
        await channel.declare_queue(dlq, durable=True, arguments=queue_arguments(topology.queue_type, None))
        await channel.declare_queue(retry, durable=True, arguments=queue_arguments(topology.queue_type, queue))
        declared = await channel.declare_queue(queue, durable=True,
                                               arguments=queue_arguments(topology.queue_type, dlq, 20))
        await declared.bind(exchange, routing_key=ROUTING_KEY)
        names.append(queue)
    return names


async def publish(topology: Topology, rows: list[Row]) -> float:
    publisher = ConfirmedPublisher(RABBITMQ_URL, topology.exchange, app_id="bench")
    await publisher.connect()
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            await publisher.publish(rows[i:i + BATCH])
        return len(rows) / (time.perf_counter() - started)
    finally:
        await publisher.close()


async def drain(queues: list[str], expected: int) -> float:
    """Deliveries acked per second, three consumers on connections of their own, as three services."""
    async def one(queue_name: str, done: asyncio.Event, counts: dict[str, int]) -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            queue = await channel.get_queue(queue_name, ensure=False)
            async with queue.iterator() as messages:
                async for message in messages:
                    await message.ack()
                    counts[queue_name] += 1
                    if counts[queue_name] == expected:
                        break
            done.set()

    counts = {q: 0 for q in queues}
    events = [asyncio.Event() for _ in queues]
    started = time.perf_counter()
    await asyncio.gather(*(one(q, e, counts) for q, e in zip(queues, events)))
    return sum(counts.values()) / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    ns = f"bench{uuid.uuid4().hex[:8]}"
    topologies = {kind: Topology(ns, kind) for kind in ("classic", "quorum")}
    admin = await aio_pika.connect(RABBITMQ_URL)
    channel = await admin.channel()
    queues = {kind: await declare(channel, topology) for kind, topology in topologies.items()}
    # The two types share the exchange; a type's queues are unbound while the other is measured.
    exchange = await channel.get_exchange(topologies["classic"].exchange)
    rates: dict[tuple[str, str], list[float]] = {}
    print(f"load average at start {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); "
          f"{args.messages} events a measurement, each routed to {len(CONSUMERS)} queues")
    try:
        rows = make_rows(args.messages)
        for round_no in range(args.rounds):
            order = ["classic", "quorum"] if round_no % 2 == 0 else ["quorum", "classic"]
            line = []
            for kind in order:
                for other in topologies:
                    for name in queues[other]:
                        queue = await channel.get_queue(name, ensure=False)
                        if other == kind:
                            await queue.bind(exchange, routing_key=ROUTING_KEY)
                        else:
                            await queue.unbind(exchange, routing_key=ROUTING_KEY)
                published = await publish(topologies[kind], rows)
                drained = await drain(queues[kind], len(rows))
                rates.setdefault((kind, "publish"), []).append(published)
                rates.setdefault((kind, "drain"), []).append(drained)
                line.append(f"{kind} publish {published:7,.0f} events/s, drain {drained:7,.0f} deliveries/s")
            print(f"round {round_no + 1}: " + "; ".join(line), flush=True)
    finally:
        for kind, topology in topologies.items():
            for consumer in CONSUMERS:
                queue = topology.queue(consumer)
                for name in (queue, topology.retry_queue(queue), topology.dead_letter_queue(queue)):
                    await channel.queue_delete(name)
        await channel.exchange_delete(topologies["classic"].exchange)
        await admin.close()
    print(f"\nmedians over {args.rounds} rounds (ratio = quorum / classic); load average {os.getloadavg()[0]:.2f}")
    for what, unit in (("publish", "events/s"), ("drain", "deliveries/s")):
        classic = statistics.median(rates[("classic", what)])
        quorum = statistics.median(rates[("quorum", what)])
        print(f"{what:>8}: classic {classic:8,.0f}  quorum {quorum:8,.0f} {unit}  ratio {quorum / classic:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10_000, help="events per measurement")
    args = parser.parse_args()
    if URL(RABBITMQ_URL).host not in LOCAL_HOSTS:
        parser.error(f"RabbitMQ must be local, not {URL(RABBITMQ_URL).host}")
    asyncio.run(asyncio.wait_for(run(args), DEADLINE_SECONDS))


if __name__ == "__main__":
    main()
