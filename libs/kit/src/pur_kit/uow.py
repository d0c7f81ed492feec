"""The one data-access path of a service: an asyncpg pool and the unit of work.

Every route and every message handler has the same shape::

    async with db.unit_of_work() as uow:
        if not await uow.claim(message_id):   # handlers only: a duplicate delivery stops here
            return
        thing = await repository.load(uow.conn, ...)
        thing.do_something()                  # the domain
        uow.publish(*thing.events)            # contract events, written to the outbox by the kit
        await uow.commit()

Leaving the block without `commit()` (or with an exception) rolls everything back: the state
change, the inbox claim and the events together. The outbox rows are written by the kit only,
from contract models (`outbox_rows`), in one statement at commit; after a commit that wrote events
the service's relay is woken (`on_events_committed`).

Why asyncpg directly rather than SQLAlchemy sessions: the services' hot paths (submissions, digest
runs, the roster import) are set-based statements over arrays that SQLAlchemy would only pass
through, and a pooled asyncpg connection per unit of work with prepared statements is what their
benchmarks were measured with. SQLAlchemy stays as the schema language of the Alembic migrations.

Behind a transaction-pooling PgBouncer (`pooled=True`, the `DATABASE_POOLER` setting), consecutive
transactions of one client connection run on different server connections, and PgBouncer 1.18 does
not carry protocol-level prepared statements across them: the pool then keeps no statement cache
(`statement_cache_size=0`: every statement is parsed again, unnamed, in the same Sync as its
execution; asyncpg >= 0.29 needs nothing else) and never resets a session (there is none to reset).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg
from pur_contracts import Event

from .db import asyncpg_dsn
from .logging import current_correlation_id

OUTBOX_TABLE = "outbox_message"
INBOX_TABLE = "inbox_message"

# The columns of an outbox row as `outbox_rows` returns them, in order, with their SQL types.
OUTBOX_COLUMNS = (("event_id", "text"), ("event_name", "text"), ("payload", "text"), ("correlation_id", "text"))

_INSERT_OUTBOX = (
    f"INSERT INTO {OUTBOX_TABLE} (event_id, event_name, routing_key, payload, correlation_id) "
    "SELECT e, n, n, p, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(e, n, p, c)"
)
_CLAIM_INBOX = (
    f"INSERT INTO {INBOX_TABLE} (consumer, message_id) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING RETURNING message_id"
)


def outbox_rows(events: Iterable[Event], correlation_id: str | None = None) -> tuple[list, list, list, list]:
    """The outbox columns (`OUTBOX_COLUMNS`) of `events`, as four parallel arrays."""
    cid = correlation_id or current_correlation_id()
    ids, names, payloads, cids = [], [], [], []
    for event in events:
        ids.append(str(event.event_id))
        names.append(event.event_name)
        payloads.append(event.model_dump_json())
        cids.append(cid)
    return ids, names, payloads, cids


def outbox_insert(source: str) -> str:
    """An INSERT of outbox rows selected from `source`, a SQL row source whose columns are named as
    in `OUTBOX_COLUMNS` (filled from `outbox_rows`). For a single statement that writes a state
    change and its events together (a data-modifying CTE), where only some rows' events are kept."""
    return (f"INSERT INTO {OUTBOX_TABLE} (event_id, event_name, routing_key, payload, correlation_id) "
            f"SELECT event_id, event_name, event_name, payload, correlation_id FROM {source}")


async def write_events(conn: asyncpg.Connection, events: Sequence[Event], correlation_id: str | None = None) -> None:
    """Write outbox rows for `events` on `conn` (inside the caller's transaction)."""
    if events:
        await conn.execute(_INSERT_OUTBOX, *outbox_rows(events, correlation_id))


def connect_options(pooled: bool) -> dict[str, Any]:
    """asyncpg's connection options for a connection through a transaction pooler (`pooled`) or
    straight to PostgreSQL: behind PgBouncer 1.18 no named prepared statement may outlive a
    transaction, so there is no statement cache."""
    return {"statement_cache_size": 0} if pooled else {}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset on release (see `Database`'s `reset_on_release`)."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


R = TypeVar("R")


class FairGate:
    """A FIFO semaphore that hands a freed slot straight to the longest waiter.

    asyncpg's pool queues waiters in an asyncio.Queue, where a newcomer can take a connection
    released for a waiter that has not run yet; the waiter then queues again at the back. Under
    load (64 HTTP requests for 16 connections) that starved some requests for a second while the
    median stayed at tens of milliseconds. With this gate in front, the pool never makes anyone wait.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Future] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def idle(self) -> bool:
        return self._free > 0 and not self._waiters

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class Database(Generic[R]):
    """A service's asyncpg pool: `acquire()` for reads, `unit_of_work()` for every change.

    `pooled=True`: `url` is a transaction-pooling PgBouncer (see the module's docstring).

    `reset_on_release=False` skips asyncpg's reset query when a connection goes back to the pool
    (a round trip per use: `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`). Only for
    a pool whose users never leave session state behind: no session advisory locks, `SET` (but
    `SET LOCAL`), `LISTEN` or open cursors outside a transaction. The runtime's `db` is such a pool
    (every use is a unit of work or a read); work that holds session state (sis_sync's import runs,
    with their session advisory lock) has a `Database` of its own, reset on release, on PostgreSQL
    itself (`database_direct_url`) when the service runs behind a pooler. A pooled `Database` never
    resets: the reset would run on whichever server connection PgBouncer picks, not the one used.

    `repositories(conn)` builds the service's repositories over a unit of work's connection
    (`uow.repos`); the service layer uses only those, so its tests swap them for in-memory ones
    (`pur_kit.testing.fakes.FakeUnitOfWork`). The pool opens no connection at start, so a service
    starts (and answers 503) while its database is down and connects on first use once it is back.
    """

    def __init__(self, url: str, size: int, *, consumer: str,
                 repositories: Callable[[asyncpg.Connection], R] = lambda conn: None,
                 on_events_committed: Callable[[], None] = lambda: None,
                 command_timeout: float = 30, reset_on_release: bool = True, pooled: bool = False) -> None:
        self._repositories = repositories
        self._reset_on_release = reset_on_release and not pooled
        self.pooled = pooled
        self._dsn = asyncpg_dsn(url)
        self._size = size
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._gate = FairGate(size)
        self.consumer = consumer  # the inbox's name for this service's deliveries
        self.events_committed = on_events_committed

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=0, max_size=self._size, init=_init_connection,
                reset=None if self._reset_on_release else _keep_session,
                max_inactive_connection_lifetime=300, command_timeout=self._command_timeout,
                **connect_options(self.pooled),
            )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise ConnectionError("database pool not started")
        await self._gate.acquire()
        try:
            async with self._pool.acquire() as conn:
                yield conn
        finally:
            self._gate.release()

    @contextlib.asynccontextmanager
    async def repositories(self) -> AsyncIterator[R]:
        """The repositories over a pooled connection, without a transaction: for work whose every
        write is one statement, complete on its own (a submission; a digest worker's claims), where
        BEGIN and COMMIT would only add two round trips. Such a write wakes the relay itself
        (`events_committed`)."""
        async with self.acquire() as conn:
            yield self._repositories(conn)

    def has_idle_connection(self) -> bool:
        """True when `acquire` would not wait."""
        return self._gate.idle()

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork[R]]:
        async with self.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            uow = UnitOfWork(conn, transaction, self.consumer, self._repositories(conn))
            try:
                yield uow
            finally:
                if not uow.committed:
                    with contextlib.suppress(Exception):  # a broken connection: the pool discards it
                        await transaction.rollback()
        if uow.committed and uow.wrote_events:
            self.events_committed()

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the database accepts a new connection and answers within `timeout` (a
        connection of its own: a busy pool must not make the service look down)."""
        async with asyncio.timeout(timeout):
            conn = await asyncpg.connect(self._dsn, **connect_options(self.pooled))
            try:
                await conn.execute("SELECT 1")
            finally:
                await conn.close()


class UnitOfWork(Generic[R]):
    """One connection and one transaction; the inbox and the outbox of that transaction, and the
    service's repositories over that connection (`repos`)."""

    def __init__(self, conn: asyncpg.Connection, transaction: Any, consumer: str, repos: R) -> None:
        self.conn = conn
        self.repos = repos
        self.consumer = consumer
        self._transaction = transaction
        self._events: list[Event] = []
        self.committed = False
        self.wrote_events = False

    async def claim(self, message_id: str) -> bool:
        """Record the delivery as processed; False when it already was (a duplicate).

        Its record commits or rolls back with the handler's effect, so a redelivery after a
        failure is processed again."""
        return await self.conn.fetchval(_CLAIM_INBOX, self.consumer, message_id) is not None

    def publish(self, *events: Event) -> None:
        """Events to write to the outbox with this transaction's commit."""
        self._events.extend(events)

    def publish_all(self, events: Iterable[Event]) -> None:
        self._events.extend(events)

    async def flush(self) -> None:
        """Write the pending events now (a long unit of work keeps its memory bounded)."""
        if self._events:
            events, self._events = self._events, []
            await write_events(self.conn, events)
            self.wrote_events = True

    def events_written(self) -> None:
        """Say that a statement of this unit of work wrote outbox rows itself (`outbox_insert`),
        so the relay is woken after the commit."""
        self.wrote_events = True

    async def commit(self) -> None:
        await self.flush()
        await self._transaction.commit()
        self.committed = True


# What opens a unit of work (`Database.unit_of_work`, or a test's `FakeUnitOfWork`), for code that
# is not handling a delivery or a request (a start-up hook, a run): `UnitOfWorkFactory[Repositories]`.
UnitOfWorkFactory = Callable[[], contextlib.AbstractAsyncContextManager[UnitOfWork[R]]]
