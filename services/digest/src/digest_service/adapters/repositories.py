"""The digest's repositories over one connection: what `uow.repos` holds (the kit's `Database`
builds one per unit of work)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
from pur_kit.uow import Database, UnitOfWork
from pur_kit.uow import UnitOfWorkFactory as KitUnitOfWorkFactory

from .deliveries import Deliveries, Runs
from .directory import Directory
from .projections import Projections
from .scopes import Scopes


class Repositories:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.projections = Projections(conn)
        self.directory = Directory(conn)
        self.scopes = Scopes(conn)
        self.deliveries = Deliveries(conn)
        self.runs = Runs(conn)


Uow = UnitOfWork[Repositories]
UnitOfWorkFactory = KitUnitOfWorkFactory[Repositories]
HeldRepositories = Callable[[], AbstractAsyncContextManager[Repositories]]


def held_repositories(db: Database[Repositories]) -> HeldRepositories:
    """Repositories over one pooled connection held across many statements, each its own
    transaction: a run's worker holds one for its share of recipients. Every statement used there
    is complete on its own (a claim; a retry's outcome with its event, written by one statement).
    A unit of work per recipient (a pooled connection taken and reset, BEGIN, COMMIT) made a run of
    bench/bench_digest.py ~20% slower."""
    @asynccontextmanager
    async def hold() -> AsyncIterator[Repositories]:
        async with db.acquire() as conn:
            yield Repositories(conn)
    return hold
