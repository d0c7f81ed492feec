"""The asyncpg pool of the HTTP paths.

Measured on this machine kind, taking a pooled connection per statement costs ~40% against holding
one per unit of work, and SQLAlchemy's pre-ping adds a round trip per checkout: the request paths
therefore hold one asyncpg connection per HTTP request and use prepared statements directly.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable

import asyncpg
from pur_kit.db import asyncpg_dsn


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per HTTP request): these connections
    never LISTEN, take advisory locks, open cursors or change settings, and a transaction is always
    closed by its context manager before release."""


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


class Database:
    def __init__(self, url: str, size: int, on_events_committed: Callable[[], None] = lambda: None) -> None:
        self._dsn = asyncpg_dsn(url)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._gate = FairGate(size)
        # Called after a commit that wrote outbox rows: wakes this process's relay.
        self.events_committed = on_events_committed

    async def start(self) -> None:
        # min_size=0: no connection at start, so the service starts (and answers 503) while the
        # database is down, and connects on first use once it is back.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._size, init=_init_connection, reset=_keep_session,
            max_inactive_connection_lifetime=300, command_timeout=30,
        )

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

    def has_idle_connection(self) -> bool:
        """True when `acquire` would not wait."""
        return self._gate.idle()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
