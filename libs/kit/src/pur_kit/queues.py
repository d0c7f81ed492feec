"""`pur-queues migrate <service>`: move a service's consumer queues from classic to quorum queues.

A queue's type is fixed when it is declared, so the quorum queues have names of their own
(`<ns>.<service>.<purpose>.q`, `pur_contracts.Topology` with `queue_type="quorum"`). For each queue
of the service, in an order in which no message can be lost:
1. declare the quorum queue, its `.retry` and `.dlq` (the arguments the consumer declares: the
   same call) and bind the queue to every routing key: from here each new event reaches it;
2. unbind the classic queue: from here new events reach only the quorum queue;
3. move the classic `.retry` queue's messages into the quorum queue (they are retried now rather
   than after their delay) and delete it, before the classic queue: a message expiring from it into
   a deleted queue would be dropped;
4. move the classic queue's messages into the quorum queue and delete it, then the same for `.dlq`
   into the quorum `.dlq` (dead letters keep their headers and reasons).
A message is moved by publishing a copy with publisher confirms and acking the original after the
confirm: a crash in between leaves both, and the consumers' inbox (`(consumer, message_id)`) makes
the copy a no-op. The same inbox absorbs the events that reached both queues between steps 1 and 2.

While a replica still consumes the classic queue (QUEUE_TYPE=classic), the command moves what it
can, deletes none of the three (that replica publishes its retries and dead letters to them by
name) and says so; running it again after the last classic replica stopped finishes the job. A
queue is deleted only when empty and without consumers (`if_unused`, `if_empty`). Running it again when
there is nothing left to do changes nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass, field

import aio_pika
import aiormq
from pur_contracts import SUBSCRIPTIONS, Topology

from .consumer import ORIGINAL_ROUTING_KEY_HEADER, QUORUM_DELIVERY_LIMIT, queue_arguments
from .dlq import mask, service_settings


@dataclass
class QueueMigration:
    """What happened to one consumer queue (`purpose`) of a service."""

    purpose: str
    moved: dict[str, int] = field(default_factory=dict)  # classic queue -> messages moved out of it
    deleted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # classic queues still in use (consumers attached)

    @property
    def done(self) -> bool:
        return not self.left


async def _exists(connection: aio_pika.abc.AbstractConnection, name: str) -> bool:
    channel = await connection.channel()
    try:
        await channel.declare_queue(name, passive=True)
        return True
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def _move(channel: aio_pika.abc.AbstractChannel, source: str, target: str, *, retry: bool = False) -> int:
    """Copy every message of `source` into `target` (confirmed), ack each original after its copy."""
    queue = await channel.declare_queue(source, passive=True)
    moved = 0
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        headers = dict(message.headers or {})
        # Its routing key becomes the target queue's name: keep the event's own for a dead-letter record.
        headers.setdefault(ORIGINAL_ROUTING_KEY_HEADER, message.routing_key or "")
        copy = aio_pika.Message(
            message.body, headers=headers, message_id=message.message_id,
            type=message.type, correlation_id=message.correlation_id, content_type=message.content_type,
            content_encoding=message.content_encoding, app_id=message.app_id, timestamp=message.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            # A retry's per-message TTL is not copied: in the main queue it would expire into the DLQ.
            expiration=None if retry else message.expiration,
        )
        await channel.default_exchange.publish(copy, routing_key=target, mandatory=True)
        await message.ack()
        moved += 1
    return moved


async def _delete_if_idle(channel: aio_pika.abc.AbstractChannel, name: str) -> bool:
    """Delete `name` if it is empty and has no consumer; False (the channel is closed) otherwise."""
    try:
        await channel.queue_delete(name, if_unused=True, if_empty=True)
        return True
    except aiormq.exceptions.ChannelPreconditionFailed:
        return False


async def migrate_queue(connection: aio_pika.abc.AbstractConnection, namespace: str, service: str,
                        purpose: str) -> QueueMigration:
    classic, quorum = Topology(namespace, "classic"), Topology(namespace, "quorum")
    q, old = quorum.queue(service, purpose), classic.queue(service, purpose)
    q_retry, q_dlq = quorum.retry_queue(q), quorum.dead_letter_queue(q)
    old_retry, old_dlq = classic.retry_queue(old), classic.dead_letter_queue(old)
    result = QueueMigration(purpose)
    keys = quorum.bindings(service, purpose)

    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(quorum.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    await channel.declare_queue(q_dlq, durable=True, arguments=queue_arguments("quorum", None))
    await channel.declare_queue(q_retry, durable=True, arguments=queue_arguments("quorum", q))
    queue = await channel.declare_queue(
        q, durable=True, arguments=queue_arguments("quorum", q_dlq, QUORUM_DELIVERY_LIMIT))
    for key in keys:
        await queue.bind(exchange, routing_key=key)

    in_use = False
    if await _exists(connection, old):
        old_queue = await channel.declare_queue(old, passive=True)
        in_use = old_queue.declaration_result.consumer_count > 0
        for key in keys:
            await old_queue.unbind(exchange, routing_key=key)
    # Retry queue first (it dead-letters into the classic queue), then the queue, then its DLQ.
    for source, target, retry in ((old_retry, q, True), (old, q, False), (old_dlq, q_dlq, False)):
        if not await _exists(connection, source):
            continue
        result.moved[source] = await _move(channel, source, target, retry=retry)
        if in_use:
            # A classic replica still consumes: its retries and dead letters are published to these
            # queues by name, and would be dropped if they were gone. Nothing is deleted under it.
            result.left.append(source)
        elif await _delete_if_idle(channel, source):
            result.deleted.append(source)
        else:
            result.left.append(source)
            # A failed delete closes the channel; and what depends on this queue must stay too.
            break
        if channel.is_closed:
            channel = await connection.channel(publisher_confirms=True)
    with contextlib.suppress(Exception):
        await channel.close()
    return result


async def migrate(url: str, namespace: str, service: str) -> list[QueueMigration]:
    connection = await aio_pika.connect(url, timeout=10, client_properties={"connection_name": "pur-queues"})
    async with connection:
        return [await migrate_queue(connection, namespace, service, purpose)
                for s, purpose in SUBSCRIPTIONS if s == service]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pur-queues", description="Manage a service's consumer queues.")
    p.add_argument("--rabbitmq-url", help="default: <SERVICE>_RABBITMQ_URL, as the service reads it")
    p.add_argument("--namespace", help="default: <SERVICE>_EVENTS_NAMESPACE, else 'pur'")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="move the service's classic queues to quorum queues (idempotent)")
    m.add_argument("service", choices=sorted({s for s, _ in SUBSCRIPTIONS}))
    return p


async def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = service_settings(args.service)
    url = args.rabbitmq_url or settings.rabbitmq_url
    try:
        results = await migrate(url, args.namespace or settings.events_namespace, args.service)
    except (OSError, TimeoutError, aiormq.exceptions.AMQPError) as exc:
        print(f"pur-queues: RabbitMQ at {mask(url)} failed: {type(exc).__name__}", file=sys.stderr)
        return 1
    for r in results:
        moved = ", ".join(f"{n} from {q}" for q, n in r.moved.items()) or "nothing to move"
        print(f"{args.service}.{r.purpose}: {moved}; deleted {', '.join(r.deleted) or 'nothing'}")
        for q in r.left:
            print(f"  {q} still has consumers (a replica with QUEUE_TYPE=classic?): run again once they stopped")
    return 0 if all(r.done for r in results) else 2


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    logging.getLogger("aio_pika").setLevel(logging.CRITICAL)
    return asyncio.run(run(argv))
