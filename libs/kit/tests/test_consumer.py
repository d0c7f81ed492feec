import asyncio
import json

import aio_pika
import structlog
from pur_contracts import DirectorySchool, DirectorySchoolUpserted, RequestSubmitted
from pur_kit.consumer import REASON_HEADER, RETRY_COUNT_HEADER
from pur_kit.testing import drain_queue, wait_until
from pur_kit.testing.memory import consuming_on

# The kit is exercised through the digest service's queue, which is bound to school and request events.
CONSUMER = "digest"


def school(version: int, name: str = "North") -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(district_id="d1", version=version,
                                   school=DirectorySchool(id="s1", district_id="d1", name=name))


def consuming(rabbitmq_url, topology, handlers, **kwargs):
    return consuming_on(rabbitmq_url, topology, CONSUMER, handlers, **kwargs)


async def publish_raw(rabbitmq_url, topology, body: bytes, *, type_: str, message_id: str):
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange)
        await exchange.publish(
            aio_pika.Message(body, message_id=message_id, type=type_, content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=type_,
        )


async def publish(rabbitmq_url, topology, event) -> None:
    await publish_raw(rabbitmq_url, topology, event.model_dump_json().encode(),
                      type_=event.event_name, message_id=str(event.event_id))


async def test_a_message_delivered_three_times_is_applied_once(db, rabbitmq_url, topology):
    async def count_once(event, delivery):
        async with db.database.unit_of_work() as uow:
            if await uow.claim(delivery.message_id):
                await uow.conn.execute("INSERT INTO effect (key, count) VALUES ('k', 1) "
                                       "ON CONFLICT (key) DO UPDATE SET count = effect.count + 1")
                await uow.commit()

    async with consuming(rabbitmq_url, topology, {DirectorySchoolUpserted: count_once}) as consumer:
        event = school(1)
        for _ in range(3):
            await publish(rabbitmq_url, topology, event)
        await wait_until(lambda: consumer.processed == 3, message="three deliveries handled")
    async with db.database.acquire() as conn:
        assert await conn.fetchval("SELECT count FROM effect") == 1


async def test_a_projection_receiving_version_3_then_2_keeps_version_3(db, rabbitmq_url, topology):
    async def project(event, delivery):
        async with db.database.unit_of_work() as uow:
            await uow.conn.execute(
                "INSERT INTO projection (id, version, value) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE "
                "SET version = excluded.version, value = excluded.value WHERE projection.version < excluded.version",
                event.school.id, event.version, event.school.name)
            await uow.commit()

    async with consuming(rabbitmq_url, topology, {DirectorySchoolUpserted: project}, prefetch=1) as consumer:
        await publish(rabbitmq_url, topology, school(3, "Three"))
        await wait_until(lambda: consumer.processed == 1)
        await publish(rabbitmq_url, topology, school(2, "Two"))
        await wait_until(lambda: consumer.processed == 2)
    async with db.database.acquire() as conn:
        row = await conn.fetchrow("SELECT version, value FROM projection")
    assert (row["version"], row["value"]) == (3, "Three")


async def test_poison_messages_are_dead_lettered_and_the_consumer_keeps_consuming(db, rabbitmq_url, topology):
    handled: list[str] = []
    attempts: list[int] = []

    async def on_school(event, delivery):
        handled.append(event.school.name)

    async def always_fails(event, delivery):
        attempts.append(delivery.attempt)
        raise RuntimeError("boom")

    handlers = {DirectorySchoolUpserted: on_school, RequestSubmitted: always_fails}
    async with consuming(rabbitmq_url, topology, handlers, max_retries=2, retry_delay_ms=50) as consumer:
        await publish_raw(rabbitmq_url, topology, b'{"district_id": "d1", "version": "not a number"',
                          type_="directory.school.upserted", message_id="malformed-1")
        await publish_raw(rabbitmq_url, topology, json.dumps({"district_id": "d1", "version": 1}).encode(),
                          type_="directory.school.upserted", message_id="invalid-1")
        failing = RequestSubmitted.model_validate({
            "district_id": "d1", "version": 1,
            "request": {"id": "00000000-0000-0000-0000-000000000001", "district_id": "d1",
                        "requester_id": "00000000-0000-0000-0000-000000000002", "requester_name": "x",
                        "school_ids": [], "status": "new", "fields": ["email"], "has_note": False,
                        "appears_applied": False, "submitted_at": "2026-01-01T00:00:00Z"}})
        await publish(rabbitmq_url, topology, failing)
        await wait_until(lambda: len(attempts) == 3, message="three attempts of the failing handler")
        await publish(rabbitmq_url, topology, school(1, "Good"))
        await wait_until(lambda: handled == ["Good"], message="the good message after the poison")
        await asyncio.sleep(0.1)
    assert attempts == [0, 1, 2]
    dead = await drain_queue(rabbitmq_url, topology.dead_letter_queue(consumer.queue_name))
    reasons = {m.message_id: m.headers[REASON_HEADER] for m in dead}
    assert set(reasons) == {"malformed-1", "invalid-1", str(failing.event_id)}
    assert reasons["malformed-1"].startswith("validation_error: <body>: json_invalid")
    assert "school: missing" in reasons["invalid-1"]
    assert reasons[str(failing.event_id)] == "handler_failed: RuntimeError after 3 attempts"
    failed = next(m for m in dead if m.message_id == str(failing.event_id))
    assert failed.headers[RETRY_COUNT_HEADER] == 2
    assert failed.headers["x-original-routing-key"] == "request.submitted"   # not the queue it came back from
    assert failed.type == "request.submitted"


async def test_processed_messages_are_logged_at_debug_and_summed_up_at_info(db, rabbitmq_url, topology):
    """Operators see each failure as it happens and a periodic count of outcomes; a line per
    processed message is DEBUG (the counter `consumer_messages_total` has the totals)."""
    async def on_school(event, delivery):
        if event.version == 2:
            raise RuntimeError("boom")

    with structlog.testing.capture_logs() as logs:
        async with consuming(rabbitmq_url, topology, {DirectorySchoolUpserted: on_school}, max_retries=0,
                             summary_seconds=0) as consumer:
            await publish(rabbitmq_url, topology, school(1))
            await wait_until(lambda: consumer.processed == 1)
            await publish(rabbitmq_url, topology, school(2))
            await wait_until(lambda: consumer.processed == 2)
    handled = [(e["log_level"], e["outcome"]) for e in logs if e["event"] == "message_handled"]
    assert handled == [("debug", "processed"), ("info", "dead_lettered")]
    summaries = [e for e in logs if e["event"] == "messages_handled"]
    assert [(e["log_level"], e.get("processed"), e.get("dead_lettered")) for e in summaries] == [
        ("info", 1, None), ("info", None, 1)]
    assert {e["consumer"] for e in summaries} == {consumer.name}
