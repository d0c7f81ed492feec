"""An in-memory unit of work for the service layer's unit tests (no database, no broker).

It behaves as `pur_kit.uow.UnitOfWork` does towards the code under test: `claim` refuses a
message id it saw before, `publish` collects events, and only `commit` makes them (and the
claims) count; the test gives it in-memory repositories with the interface of the real ones.
"""
from __future__ import annotations

from typing import Generic, TypeVar

from pur_contracts import Event

R = TypeVar("R")


class FakeUnitOfWork(Generic[R]):
    def __init__(self, repos: R, consumer: str = "test.main") -> None:
        self.repos = repos
        self.consumer = consumer
        self.conn = None  # code under test must go through `repos`
        self.claimed: set[str] = set()  # committed claims, kept across units of work
        self.published: list[Event] = []  # committed events, in order
        self.commits = 0
        self._claims: set[str] = set()
        self._events: list[Event] = []
        self.committed = False

    def __call__(self) -> FakeUnitOfWork[R]:
        """A fresh unit of work over the same repositories and committed state (as
        `Database.unit_of_work()` gives one per use)."""
        self._claims, self._events, self.committed = set(), [], False
        return self

    async def __aenter__(self) -> FakeUnitOfWork[R]:
        return self()

    async def __aexit__(self, *exc) -> None:
        self._claims, self._events = set(), []

    async def claim(self, message_id: str) -> bool:
        if message_id in self.claimed or message_id in self._claims:
            return False
        self._claims.add(message_id)
        return True

    def publish(self, *events: Event) -> None:
        self._events.extend(events)

    def publish_all(self, events) -> None:
        self._events.extend(events)

    async def flush(self) -> None:
        pass

    def events_written(self) -> None:
        pass

    async def commit(self) -> None:
        self.claimed |= self._claims
        self.published += self._events
        self._claims, self._events = set(), []
        self.committed = True
        self.commits += 1
