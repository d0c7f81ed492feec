"""The asyncpg pool of the HTTP paths.

Measured on this machine kind, taking a pooled connection per statement costs ~40% against holding
one per unit of work, and SQLAlchemy's pre-ping adds a round trip per checkout: the request paths
therefore hold one asyncpg connection per HTTP request and use prepared statements directly.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg
from pur_kit.db import asyncpg_dsn


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per HTTP request): these connections
    never LISTEN, take advisory locks, open cursors or change settings, and a transaction is always
    closed by its context manager before release."""


class Database:
    def __init__(self, url: str, size: int, on_events_committed: Callable[[], None] = lambda: None) -> None:
        self._dsn = asyncpg_dsn(url)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        # Called after a commit that wrote outbox rows: wakes this process's relay.
        self.events_committed = on_events_committed

    async def start(self) -> None:
        # min_size=0: no connection at start, so the service starts (and answers 503) while the
        # database is down, and connects on first use once it is back.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._size, init=_init_connection, reset=_keep_session,
            max_inactive_connection_lifetime=300, command_timeout=30,
        )

    def acquire(self):
        if self._pool is None:
            raise ConnectionError("database pool not started")
        return self._pool.acquire()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
