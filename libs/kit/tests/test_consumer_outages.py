"""An unreachable database is an outage, not a poison message: the consumer pauses, keeps the
messages and applies them once the database is back, without spending their retries. And a
message far larger than any event is refused before it is parsed."""
from __future__ import annotations

import asyncio
import json
import tracemalloc

from pur_contracts import DirectorySchoolUpserted
from pur_kit.consumer import REASON_HEADER
from pur_kit.db import make_engine
from pur_kit.testing import TcpProxy, drain_queue, wait_until
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url

from .test_consumer import consuming, publish, publish_raw, school


async def test_events_queued_during_a_database_outage_are_applied_after_it_and_none_is_dead_lettered(
        db, rabbitmq_url, topology):
    url = make_url(db.url)
    async with TcpProxy(url.host, url.port or 5432) as proxy:
        engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False), pool_size=2)
        applied: list[int] = []

        async def project(event, delivery):
            async with engine.begin() as conn:
                await conn.execute(pg_insert(db.effect).values(key=str(event.version), count=1))
            applied.append(event.version)

        try:
            # With two retries 50 ms apart, a failing handler would be dead-lettered within a second.
            async with consuming(rabbitmq_url, topology, {DirectorySchoolUpserted: project},
                                 max_retries=2, retry_delay_ms=50, max_pause_delay=0.5) as consumer:
                await publish(rabbitmq_url, topology, school(1))
                await wait_until(lambda: applied == [1], message="first event applied")
                await proxy.cut()
                for version in range(2, 42):
                    await publish(rabbitmq_url, topology, school(version))
                await wait_until(lambda: consumer.paused, message="the consumer paused")
                await wait_until(lambda: consumer.pauses >= 3, timeout=20, message="several probes failed")
                assert applied == [1]
                await proxy.restore()
                await wait_until(lambda: len(applied) == 41, timeout=30, message="every event applied")
        finally:
            await engine.dispose()
    assert sorted(applied) == list(range(1, 42))
    assert await drain_queue(rabbitmq_url, topology.dead_letter_queue(consumer.queue_name)) == []


async def test_a_10_mb_message_is_dead_lettered_unparsed_and_the_next_one_is_applied(db, rabbitmq_url, topology):
    handled: list[str] = []

    async def on_school(event, delivery):
        handled.append(event.school.name[:10])

    huge = school(1).model_dump_json().replace('"North"', '"' + "N" * 10_000_000 + '"').encode()
    handlers = {DirectorySchoolUpserted: on_school}
    async with consuming(rabbitmq_url, topology, handlers):
        pass  # declares the queues; the message waits there, so its publishing is not measured below
    await publish_raw(rabbitmq_url, topology, huge, type_="directory.school.upserted", message_id="huge-1")
    tracemalloc.start()
    try:
        async with consuming(rabbitmq_url, topology, handlers) as consumer:
            await wait_until(lambda: consumer.processed == 1, timeout=30, message="the huge message handled")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            await publish(rabbitmq_url, topology, school(2, "Small"))
            await wait_until(lambda: handled == ["Small"], message="the next message applied")
    finally:
        tracemalloc.stop()
    assert len(json.loads(huge)["school"]["name"]) == 10_000_000
    dead = await drain_queue(rabbitmq_url, topology.dead_letter_queue(consumer.queue_name))
    assert [m.message_id for m in dead] == ["huge-1"]
    assert dead[0].headers[REASON_HEADER].startswith("too_large: 10000")
    # Received, held and republished to the DLQ: a few copies of the body at most, never a parse of it.
    print(f"peak traced memory while a 10 MB message was dead-lettered: {peak / 1e6:.1f} MB")
    assert peak < 6 * len(huge)


async def test_no_more_messages_than_the_prefetch_are_handled_at_once(db, rabbitmq_url, topology):
    """The prefetch is what stops deliveries while the consumer is paused (and bounds its memory)."""
    running, most = 0, 0

    async def slow(event, delivery):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.5)
        running -= 1

    async with consuming(rabbitmq_url, topology, {DirectorySchoolUpserted: slow}, prefetch=3) as consumer:
        for version in range(1, 21):
            await publish(rabbitmq_url, topology, school(version))
        await wait_until(lambda: consumer.processed == 20, timeout=30, message="every message handled")
    assert most == 3
