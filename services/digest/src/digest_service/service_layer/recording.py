"""Recording the outcomes of a run in batches.

Workers hand over each outcome and go on with the next recipient; outcomes are written together
(one unit of work per batch, at most `delay` after the first one) instead of one transaction per
email: a transaction that writes outbox rows notifies the relay at commit, and PostgreSQL
serializes notifying commits through one database-wide lock. Each delivery's status still commits
together with its `digest.sent` event. Until its batch commits, a sent delivery is 'claimed' in the
database: a crash in that window (tens of milliseconds) leaves it 'unknown', exactly like a crash
right after the SMTP reply.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from pur_contracts import Event
from pur_kit.logging import get_logger

from ..adapters.repositories import UnitOfWorkFactory
from ..domain.delivery import NextState

log = get_logger(__name__)


class OutcomeRecorder:
    def __init__(self, unit_of_work: UnitOfWorkFactory, clock: Callable[[], datetime], *, batch_size: int = 100,
                 delay: float = 0.02) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.batch_size = batch_size
        self.delay = delay
        self.failed = 0   # outcomes lost to a database error: those deliveries end up 'unknown'
        self._pending: list[tuple[UUID, NextState, datetime, Event | None]] = []
        self._timer: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    def add(self, delivery_id: UUID, state: NextState, event: Event | None) -> None:
        self._pending.append((delivery_id, state, self.clock(), event))
        if len(self._pending) >= self.batch_size:
            self._spawn(self._flush())
        elif self._timer is None:
            self._timer = self._spawn(self._flush_soon())

    async def close(self) -> None:
        """Write everything handed over so far."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_soon(self) -> None:
        """The batching window: outcomes handed over meanwhile share the first one's commit."""
        await asyncio.sleep(self.delay)
        self._timer = None
        await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            async with self.unit_of_work() as uow:
                recorded = await uow.repos.deliveries.record_outcomes([o[:3] for o in batch], self.clock())
                # only a delivery still open (claimed, or called unknown by the sweeper) is recorded and announced
                uow.publish_all(event for delivery_id, _, _, event in batch
                                if event is not None and delivery_id in recorded)
                await uow.commit()
        except Exception as exc:
            self.failed += len(batch)
            log.error("digest_outcomes_not_recorded", deliveries=len(batch), error=type(exc).__name__)
