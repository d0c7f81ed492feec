"""The asyncpg pool of digest runs and of the HTTP paths.

A run handles thousands of recipients with a few statements each: each worker holds one
connection for the whole run and uses prepared statements (measured here: taking a pooled
connection per statement costs ~40%). The runtime's SQLAlchemy engine serves the message handlers.
"""
from __future__ import annotations

import asyncpg
from pur_kit.db import asyncpg_dsn


class Database:
    def __init__(self, url: str, size: int) -> None:
        self._dsn = asyncpg_dsn(url)
        self._size = size
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        # min_size=0: the service starts (and answers 503) while the database is down.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._size, max_inactive_connection_lifetime=300,
            command_timeout=60,
        )

    def acquire(self):
        if self._pool is None:
            raise ConnectionError("database pool not started")
        return self._pool.acquire()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
