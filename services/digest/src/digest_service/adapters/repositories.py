"""The digest's repositories over one connection: what `uow.repos` holds (the kit's `Database`
builds one per unit of work)."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
from pur_kit.uow import UnitOfWork
from pur_kit.uow import UnitOfWorkFactory as KitUnitOfWorkFactory

from .deliveries import Deliveries, Runs
from .directory import Directory
from .projections import Projections
from .scopes import Scopes
from .subscriptions import Subscriptions


class Repositories:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.projections = Projections(conn)
        self.directory = Directory(conn)
        self.scopes = Scopes(conn)
        self.deliveries = Deliveries(conn)
        self.runs = Runs(conn)
        self.subscriptions = Subscriptions(conn)


Uow = UnitOfWork[Repositories]
UnitOfWorkFactory = KitUnitOfWorkFactory[Repositories]
# `Database.repositories`: one pooled connection without a transaction (a run's send worker).
HeldRepositories = Callable[[], AbstractAsyncContextManager[Repositories]]

