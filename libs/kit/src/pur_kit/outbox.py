"""Transactional outbox: events are written with the state change, a relay publishes them.

A unit of work writes its events as outbox rows in its own transaction (`pur_kit.uow`), so an
event exists if and only if the state change committed. `OutboxRelay` claims committed rows by
deleting them in a transaction that stays open while it publishes them with publisher confirms,
and commits that delete once every confirm has come back; a failure or crash before then rolls
the delete back and the rows are published again (consumers deduplicate by message id).

Behind a transaction-pooling PgBouncer, LISTEN cannot work through the pooler (the LISTEN runs on
one server connection, which then serves other clients; notifications never reach the relay), so
the listener connects to PostgreSQL itself (`listen=<direct URL>`) while the claiming connection
goes through the pooler like every other transaction. Without a direct URL the relay does not
listen and says so once (`outbox_relay_polling`): the service's own commits still wake it in
process (`wake()`), and rows committed by other processes wait for the poll.
"""
from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from .confirmed_publisher import ConfirmedPublisher
from .db import asyncpg_dsn
from .logging import get_logger
from .messaging_tables import NOTIFY_CHANNEL
from .uow import connect_options

log = get_logger(__name__)
CLOSE_SECONDS = 5.0  # how long closing one of the relay's connections may take


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

    `listen`: True listens on `database_url`; a URL listens there (PostgreSQL itself when
    `database_url` is a pooler, `pooled=True`); False only polls. `notified` counts the NOTIFYs
    received.
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
        listen: str | bool = True,
        pooled: bool = False,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._listen_dsn = asyncpg_dsn(database_url if listen is True else listen) if listen else None
        self._pooled = pooled
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
        self.notified = 0
        self.connected = False

    async def run(self) -> None:
        """Run until cancelled, reconnecting to the database and broker after failures."""
        if self._listen_dsn is None:
            log.warning("outbox_relay_polling", poll_seconds=self._poll_seconds,
                        reason="behind a transaction pooler without DATABASE_DIRECT_URL: no LISTEN")
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
        amqp = ConfirmedPublisher(self._rabbitmq_url, self._exchange_name, app_id=self._app_id)
        await amqp.connect()
        listener = await asyncpg.connect(self._listen_dsn) if self._listen_dsn else None
        try:
            worker = await asyncpg.connect(self._dsn, **connect_options(self._pooled))
        except BaseException:
            if listener is not None:
                listener.terminate()
            raise
        try:
            if listener is not None:
                await listener.add_listener(NOTIFY_CHANNEL, self._notified)
            self.connected = True
            while not self._stopping:
                self._wake.clear()
                while await self._publish_batch(worker, amqp) == self._batch_size:
                    pass
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                if (listener is not None and listener.is_closed()) or amqp.is_closed:
                    raise ConnectionError("outbox relay lost a connection")
            # stopping (a graceful shutdown): publish what was committed until now before leaving,
            # rather than leave it for another replica's next wake-up or poll
            while not amqp.is_closed and await self._claim_and_publish(worker, amqp) == self._batch_size:
                pass
        finally:
            self.connected = False
            connections = [conn for conn in (listener, worker) if conn is not None]
            try:
                # bounded: a connection to a peer that stopped answering must not hold the relay
                for close in (*(conn.close for conn in connections), amqp.close):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(close(), CLOSE_SECONDS)
            except asyncio.CancelledError:  # cancelled while closing: drop what is left at once
                for conn in connections:
                    conn.terminate()
                raise

    def _notified(self, *_: object) -> None:
        self.notified += 1
        self._wake.set()

    def wake(self) -> None:
        """Publish what was just committed without waiting for a NOTIFY or the poll."""
        self._wake.set()

    async def _publish_batch(self, conn: asyncpg.Connection, publisher: ConfirmedPublisher) -> int:
        if self._gather_seconds > 0 and self._last_batch >= self.GATHER_FROM:
            await asyncio.sleep(self._gather_seconds)
        published = await self._claim_and_publish(conn, publisher)
        if published:  # an empty claim (a wake-up whose rows went out already) says nothing of the load
            self._last_batch = published
        return published

    async def _claim_and_publish(self, conn: asyncpg.Connection, publisher: ConfirmedPublisher) -> int:
        async with conn.transaction():
            rows = sorted(await conn.fetch(_CLAIM, self._batch_size), key=lambda row: row["id"])
            if not rows:
                return 0
            await self._publish(publisher, rows)
        self.published += len(rows)
        return len(rows)

    async def _publish(self, publisher: ConfirmedPublisher, rows: list[asyncpg.Record]) -> None:
        """Publish the claimed rows and wait for every confirm (inside the claiming transaction)."""
        await publisher.publish(rows)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

