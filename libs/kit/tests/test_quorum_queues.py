"""Quorum consumer queues (QUEUE_TYPE=quorum) and the move from classic ones (`pur-queues migrate`)."""
import asyncio
import dataclasses
from collections import Counter

import aio_pika
import pytest_asyncio
from pur_contracts import DirectorySchool, DirectorySchoolUpserted
from pur_kit.consumer import REASON_HEADER, RETRY_COUNT_HEADER
from pur_kit.queues import migrate, run
from pur_kit.testing import drain_queue, wait_until
from pur_kit.testing.memory import consuming_on

CONSUMER = "digest"


def school(version: int) -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(district_id="d1", version=version,
                                   school=DirectorySchool(id=f"s{version}", district_id="d1", name="North"))


@pytest_asyncio.fixture
async def topologies(topology, rabbitmq_url):
    """(classic, quorum) topologies of one namespace (the plugin's fixture deletes both kinds of
    queues and the exchange afterwards)."""
    yield dataclasses.replace(topology, queue_type="classic"), dataclasses.replace(topology, queue_type="quorum")


def consuming(rabbitmq_url, topology, handlers, **kwargs):
    return consuming_on(rabbitmq_url, topology, CONSUMER, handlers, **kwargs)


async def publish(rabbitmq_url, topology, *events) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange)
        for event in events:
            await exchange.publish(
                aio_pika.Message(event.model_dump_json().encode(), message_id=str(event.event_id),
                                 type=event.event_name, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=event.event_name)


async def put(rabbitmq_url, queue: str, event, **properties) -> None:
    """Straight into a queue (the default exchange), as the kit's retries and dead letters are."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(event.model_dump_json().encode(), message_id=str(event.event_id),
                             type=event.event_name, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
            routing_key=queue)


async def queue_info(rabbitmq_url, name: str):
    """Its message count, or None when the queue does not exist."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None
        return queue.declaration_result.message_count


async def peek(rabbitmq_url, queue: str) -> dict:
    """message id -> expiration of every message in the queue, all left in it."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        held = []
        while (message := await q.get(fail=False)) is not None:
            held.append(message)
        for message in held:
            await message.nack(requeue=True)
        return {m.message_id: m.expiration for m in held}


async def test_quorum_queues_carry_the_kits_retries_without_spending_the_delivery_limit(rabbitmq_url, topologies):
    _, quorum = topologies
    attempts: list[int] = []

    async def always_fails(event, delivery):
        attempts.append(delivery.attempt)
        raise RuntimeError("bad input")

    # A delivery limit of 1 would dead-letter at the broker's second delivery: the kit's retries are
    # new messages, so the message still gets its 1 + 3 attempts and the kit's reason.
    async with consuming(rabbitmq_url, quorum, {DirectorySchoolUpserted: always_fails},
                         max_retries=3, retry_delay_ms=20, delivery_limit=1) as consumer:
        assert consumer.queue_name.endswith(".main.q")
        await publish(rabbitmq_url, quorum, school(1))
        await wait_until(lambda: queue_info(rabbitmq_url, consumer.dlq_name), message="dead-lettered")
    assert attempts == [0, 1, 2, 3]
    [dead] = await drain_queue(rabbitmq_url, consumer.dlq_name)
    assert dead.headers[REASON_HEADER] == "handler_failed: RuntimeError after 4 attempts"


async def test_a_message_handed_back_past_the_delivery_limit_is_dead_lettered_by_the_broker(rabbitmq_url, topologies):
    """The second poison guard: a consumer that dies on a message before the kit counts an attempt."""
    _, quorum = topologies
    async with consuming(rabbitmq_url, quorum, {DirectorySchoolUpserted: lambda e, d: asyncio.sleep(0)},
                         delivery_limit=2) as consumer:
        pass  # declared; nothing consumes now
    await publish(rabbitmq_url, quorum, school(1))
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(consumer.queue_name)
        while (message := await queue.get(fail=False)) is not None:
            await message.nack(requeue=True)
    await wait_until(lambda: queue_info(rabbitmq_url, consumer.dlq_name), message="dead-lettered by the broker")
    [dead] = await drain_queue(rabbitmq_url, consumer.dlq_name)
    assert dead.headers["x-first-death-reason"] == "delivery_limit"


async def test_messages_left_in_classic_queues_are_handled_exactly_once_after_the_migration(rabbitmq_url, topologies):
    classic, quorum = topologies
    handled: Counter = Counter()

    async def record(event, delivery):
        handled[delivery.message_id] += 1

    handlers = {DirectorySchoolUpserted: record}
    queued = [school(v) for v in range(1, 41)]
    retrying, dead = school(100), school(101)
    # The installation of before: classic queues, with a backlog, a retry waiting a minute, a dead letter.
    async with consuming(rabbitmq_url, classic, handlers) as old:
        pass
    await publish(rabbitmq_url, classic, *queued)
    await put(rabbitmq_url, old.retry_queue_name, retrying, expiration=60, headers={RETRY_COUNT_HEADER: 1})
    await put(rabbitmq_url, old.dlq_name, dead, headers={REASON_HEADER: "handler_failed: X after 6 attempts"})

    # A classic replica still runs while the migration starts: nothing classic is deleted under it.
    async with consuming(rabbitmq_url, classic, handlers, prefetch=1):
        first = {r.purpose: r for r in await migrate(rabbitmq_url, classic.namespace, CONSUMER)}
        # Nothing classic is deleted under a classic replica: it publishes its retries there by name.
        assert first["main"].left == [old.retry_queue_name, old.queue_name, old.dlq_name]
        assert first["settings"].done
    # The waiting retry was moved into the quorum queue without its TTL (it would expire into the DLQ).
    waiting = await peek(rabbitmq_url, quorum.queue(CONSUMER))
    assert str(retrying.event_id) in waiting and all(e is None for e in waiting.values())
    async with consuming(rabbitmq_url, quorum, handlers) as new:
        assert await run(["--rabbitmq-url", rabbitmq_url, "--namespace", classic.namespace,
                           "migrate", CONSUMER]) == 0
        later = [school(v) for v in range(200, 210)]  # after the migration: only the quorum queue is bound
        await publish(rabbitmq_url, quorum, *later)
        expected = {str(e.event_id) for e in [*queued, retrying, *later]}
        await wait_until(lambda: set(handled) == expected, message="every message handled")
        await asyncio.sleep(0.5)  # a duplicate would arrive now, not later: nothing else is queued
    assert set(handled.values()) == {1}, "each message handled once"
    for name in (old.queue_name, old.retry_queue_name, old.dlq_name):
        assert await queue_info(rabbitmq_url, name) is None, f"{name} deleted"
    [kept] = await drain_queue(rabbitmq_url, new.dlq_name)
    assert kept.message_id == str(dead.event_id)
    assert kept.headers[REASON_HEADER] == "handler_failed: X after 6 attempts"

    again = await migrate(rabbitmq_url, classic.namespace, CONSUMER)
    assert all(r.done and not r.moved and not r.deleted for r in again), "a second run changes nothing"
