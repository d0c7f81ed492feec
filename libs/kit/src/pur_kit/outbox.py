"""Transactional outbox: write events with the state change, publish them from a relay.

`add_events` runs inside the caller's transaction, so an event exists if and only if the state
change committed. `OutboxRelay` claims committed rows by deleting them in a transaction that stays
open while it publishes them with publisher confirms, and commits that delete once every confirm
has come back; a failure or crash before then rolls the delete back and the rows are published
again (consumers deduplicate by message id).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aiormq
import asyncpg
from pur_contracts import Event
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from .db import asyncpg_dsn
from .logging import current_correlation_id, get_logger
from .messaging_tables import NOTIFY_CHANNEL

log = get_logger(__name__)


async def add_events(
    session: AsyncSession | AsyncConnection,
    outbox: Table,
    events: Sequence[Event],
    correlation_id: str | None = None,
) -> None:
    if not events:
        return
    cid = correlation_id or current_correlation_id()
    await session.execute(
        insert(outbox),
        [
            {
                "event_id": str(e.event_id),
                "event_name": e.event_name,
                "routing_key": e.event_name,
                "payload": e.model_dump_json(),
                "correlation_id": cid,
            }
            for e in events
        ],
    )


async def add_event(session, outbox: Table, event: Event, correlation_id: str | None = None) -> None:
    await add_events(session, outbox, [event], correlation_id)


# Claimed rows are deleted at once, in the transaction that stays open while they are published:
# a failure or crash before the commit rolls the delete back and they are published again.
# (One statement instead of SELECT ... FOR UPDATE then DELETE: half the round trips and no
# separate row-lock write per event.)
_CLAIM = """
DELETE FROM outbox_message WHERE id IN (
    SELECT id FROM outbox_message ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, event_id, event_name, routing_key, payload, correlation_id
"""


class OutboxRelay:
    """Publishes outbox rows in batches; safe to run in several replicas (SKIP LOCKED).

    Woken by the outbox table's NOTIFY trigger at commit, or by `wake()` from the code that just
    committed (for a service that drops the trigger), with a slow poll as the fallback.
    `gather_seconds` > 0: under load (the previous batch held at least `GATHER_FROM` events) the
    relay pauses that long after a wake-up, so the events of concurrent commits share one
    claim/publish/delete transaction; at light traffic it publishes at once.
    """

    GATHER_FROM = 3

    def __init__(
        self,
        database_url: str,
        rabbitmq_url: str,
        exchange_name: str,
        *,
        batch_size: int = 500,
        poll_seconds: float = 5.0,
        app_id: str = "pur",
        gather_seconds: float = 0.0,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._rabbitmq_url = rabbitmq_url
        self._exchange_name = exchange_name
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._app_id = app_id
        self._gather_seconds = gather_seconds
        self._last_batch = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0
        self.connected = False

    async def run(self) -> None:
        """Run until cancelled, reconnecting to the database and broker after failures."""
        backoff = 0.5
        while not self._stopping:
            try:
                await self._run_connected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive outages of either dependency
                self.connected = False
                log.warning("outbox_relay_error", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = 0.5

    async def _run_connected(self) -> None:
        amqp = _RelayConnection(self._rabbitmq_url)
        await amqp.connect()
        listener = await asyncpg.connect(self._dsn)
        worker = await asyncpg.connect(self._dsn)
        try:
            channel = await amqp.channel(publisher_confirms=True)
            await channel.exchange_declare(exchange=self._exchange_name, exchange_type="topic", durable=True)
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            self.connected = True
            while not self._stopping:
                self._wake.clear()
                while await self._publish_batch(worker, channel) == self._batch_size:
                    pass
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                if listener.is_closed() or amqp.is_closed:
                    raise ConnectionError("outbox relay lost a connection")
        finally:
            self.connected = False
            try:
                for close in (listener.close, worker.close, amqp.close):
                    with contextlib.suppress(Exception):
                        await close()
            except asyncio.CancelledError:  # cancelled while closing: drop what is left at once
                listener.terminate()
                worker.terminate()
                raise

    def wake(self) -> None:
        """Publish what was just committed without waiting for a NOTIFY or the poll."""
        self._wake.set()

    async def _publish_batch(self, conn: asyncpg.Connection, channel: aiormq.abc.AbstractChannel) -> int:
        if self._gather_seconds > 0 and self._last_batch >= self.GATHER_FROM:
            await asyncio.sleep(self._gather_seconds)
        published = await self._claim_and_publish(conn, channel)
        if published:  # an empty claim (a wake-up whose rows went out already) says nothing of the load
            self._last_batch = published
        return published

    async def _claim_and_publish(self, conn: asyncpg.Connection, channel: aiormq.abc.AbstractChannel) -> int:
        async with conn.transaction():
            rows = sorted(await conn.fetch(_CLAIM, self._batch_size), key=lambda row: row["id"])
            if not rows:
                return 0
            await self._publish(channel, rows)
        self.published += len(rows)
        return len(rows)

    async def _publish(self, channel: aiormq.abc.AbstractChannel, rows: list[asyncpg.Record]) -> None:
        """Publish the claimed rows and wait for every confirm (inside the claiming transaction)."""
        # Pipelined: every publish is in flight at once and each awaits its own confirm.
        await asyncio.gather(
            *(
                channel.basic_publish(
                    row["payload"].encode(),
                    exchange=self._exchange_name,
                    routing_key=row["routing_key"],
                    properties=aiormq.spec.Basic.Properties(
                        content_type="application/json",
                        delivery_mode=2,  # persistent
                        message_id=row["event_id"],
                        message_type=row["event_name"],
                        correlation_id=row["correlation_id"],
                        app_id=self._app_id,
                    ),
                    mandatory=False,
                    wait=False,  # hold the channel lock only while queueing the frames (see _RelayConnection)
                )
                for row in rows
            )
        )

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()


class _RelayConnection(aiormq.Connection):
    """An AMQP connection whose write queue holds a whole batch.

    aiormq queues each publish's frames under a channel lock, in a queue of 10 by default. When a
    batch outgrew it, the lock holder waited for the connection's writer and every other publish
    queued behind the lock, so a batch advanced one message per event-loop turn: a relay sharing
    its loop with a busy HTTP server published 300 events/s at 650 submissions/s and fell ever
    further behind (bench/bench_requests.py). With room for a batch, and publishes that do not
    wait for the socket to drain (wait=False; confirms are still awaited before the delete commits),
    a batch is queued in one turn and written in the next.
    """

    FRAME_BUFFER_SIZE = 4096
