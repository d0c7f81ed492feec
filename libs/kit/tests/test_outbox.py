import asyncio
import contextlib

from pur_contracts import DirectorySchool, DirectorySchoolUpserted
from pur_kit.messaging_tables import DROP_NOTIFY_TRIGGER
from pur_kit.outbox import OutboxRelay
from pur_kit.testing import EventSpy, wait_until
from pur_kit.uow import write_events

def school_event(version: int = 1) -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(
        district_id="d1", version=version, school=DirectorySchool(id="s1", district_id="d1", name="North")
    )


async def add_events(db, events) -> None:
    """Commit outbox rows for `events` as a service's unit of work does."""
    async with db.database.unit_of_work() as uow:
        uow.publish_all(events)
        await uow.commit()


class HookedRelay(OutboxRelay):
    """A relay that calls `after_publish(event_ids)` once a batch is confirmed, before its delete commits."""

    def __init__(self, *args, after_publish, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.after_publish = after_publish

    async def _publish(self, channel, rows) -> None:
        await super()._publish(channel, rows)
        await self.after_publish([row["event_id"] for row in rows])


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):
    task = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: relay.connected, message="relay connected")
        yield relay
    finally:
        relay.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_event_added_in_a_rolled_back_transaction_is_never_published(db, rabbitmq_url, topology):
    async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(
        OutboxRelay(db.url, rabbitmq_url, topology.exchange, poll_seconds=0.2)
    ):
        rolled_back, committed = school_event(1), school_event(2)
        async with db.database.unit_of_work() as uow:
            uow.publish(rolled_back)
            await uow.flush()  # written, then rolled back: the block ends without commit
        async with db.database.unit_of_work() as uow:
            await write_events(uow.conn, [committed], correlation_id="corr-1")
            await uow.commit()
        received = await spy.wait_for(1)
        await asyncio.sleep(0.3)  # a wrongly published first event would have arrived by now
    assert [m.message_id for m in spy.messages] == [str(committed.event_id)]
    message = received[0]
    assert message.type == "directory.school.upserted"
    assert message.correlation_id == "corr-1"
    assert message.delivery_mode == 2  # persistent
    assert await db.outbox_count() == 0


async def test_a_relay_killed_after_publishing_republishes_and_the_consumer_dedupes(db, rabbitmq_url, topology):
    event = school_event()

    async def crash_before_marking_sent(_ids):
        raise RuntimeError("relay killed between publish and mark")

    async with EventSpy(rabbitmq_url, topology.exchange) as spy:
        await add_events(db, [event])
        crashing = HookedRelay(db.url, rabbitmq_url, topology.exchange, after_publish=crash_before_marking_sent)
        task = asyncio.create_task(crashing.run())
        await spy.wait_for(1)
        crashing.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await db.outbox_count() == 1  # never marked sent
        async with running(OutboxRelay(db.url, rabbitmq_url, topology.exchange)):
            await wait_until(lambda: len(spy.messages) >= 2, message="republished")
            await wait_until(db.outbox_empty, message="outbox drained")
    # The broker saw the event twice (at-least-once); the message id lets consumers dedupe.
    assert {m.message_id for m in spy.messages} == {str(event.event_id)}
    assert len(spy.messages) >= 2


async def test_relay_publishes_a_large_backlog_in_batches(db, rabbitmq_url, topology):
    await add_events(db, [school_event(version) for version in range(1, 1201)])
    relay = OutboxRelay(db.url, rabbitmq_url, topology.exchange, batch_size=500)
    async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(relay):
        await spy.wait_for(1200, timeout=30)
        await wait_until(db.outbox_empty, message="outbox drained")
    assert relay.published == 1200
    assert len({m.message_id for m in spy.messages}) == 1200


async def test_the_relay_wakes_on_notify_at_commit_not_on_its_poll(db, rabbitmq_url, topology):
    async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(
        OutboxRelay(db.url, rabbitmq_url, topology.exchange, poll_seconds=300)
    ):
        await add_events(db, [school_event()])
        await spy.wait_for(1, timeout=30)   # the poll would take 300 s


async def test_wake_publishes_at_once_where_the_notify_trigger_was_dropped(db, rabbitmq_url, topology):
    async with db.database.acquire() as conn:
        for statement in DROP_NOTIFY_TRIGGER:
            await conn.execute(statement)
    relay = OutboxRelay(db.url, rabbitmq_url, topology.exchange, poll_seconds=300)
    async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(relay):
        await add_events(db, [school_event()])
        relay.wake()
        await spy.wait_for(1, timeout=30)


async def test_under_load_the_relay_gathers_concurrent_commits_into_one_batch(db, rabbitmq_url, topology):
    batches: list[int] = []

    async def record(ids):
        batches.append(len(ids))

    async with db.database.acquire() as conn:
        for statement in DROP_NOTIFY_TRIGGER:
            await conn.execute(statement)

    async def commit_one(version: int) -> None:
        await add_events(db, [school_event(version)])

    relay = HookedRelay(db.url, rabbitmq_url, topology.exchange, poll_seconds=300, gather_seconds=3,
                        after_publish=record)
    async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(relay):
        for version in (1, 2, 3):
            await commit_one(version)
        relay.wake()
        await spy.wait_for(3, timeout=30)
        assert batches == [3]                   # a batch of 3: the relay is now gathering
        await commit_one(4)
        relay.wake()                            # pauses before claiming ...
        await commit_one(5)
        await commit_one(6)
        relay.wake()
        await spy.wait_for(6, timeout=30)
        assert batches == [3, 3]                # ... so 4, 5 and 6 went out together
        await commit_one(7)
        relay.wake()
        await spy.wait_for(7, timeout=30)
    assert batches == [3, 3, 1]


async def test_a_stopping_relay_publishes_what_was_committed_before_it_leaves(db, rabbitmq_url, topology):
    """A graceful stop (SIGTERM) flushes the outbox instead of leaving the rows for another replica's
    next wake-up or poll: here nothing else would wake it (no trigger, a 300 s poll)."""
    async with db.database.acquire() as conn:
        for statement in DROP_NOTIFY_TRIGGER:
            await conn.execute(statement)
    relay = OutboxRelay(db.url, rabbitmq_url, topology.exchange, poll_seconds=300)
    async with EventSpy(rabbitmq_url, topology.exchange) as spy:
        task = asyncio.create_task(relay.run())
        await wait_until(lambda: relay.connected, message="relay connected")
        await add_events(db, [school_event(v) for v in range(1, 4)])
        relay.stop()
        await asyncio.wait_for(task, 30)   # it leaves by itself, having published
        await spy.wait_for(3, timeout=10)
    assert await db.outbox_count() == 0
