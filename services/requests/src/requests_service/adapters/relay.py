"""The kit's outbox relay, woken in-process and gathering concurrent commits into one batch.

- Woken by `wake()` from the code that just committed events, instead of a NOTIFY per outbox
  insert (see migrations/versions/0001_initial.py for why the trigger is dropped); the kit's poll
  still picks up rows written by any other process.
- After a wake-up it waits a few milliseconds before claiming, so that the events of concurrent
  requests share one claim/publish/delete transaction: claiming at once cost about as much CPU
  per event as the HTTP request itself. At low traffic this only adds the pause to the
  commit-to-broker latency.
"""
from __future__ import annotations

import asyncio

from pur_kit.outbox import OutboxRelay


class CoalescingOutboxRelay(OutboxRelay):
    def __init__(self, *args, coalesce_seconds: float = 0.01, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.coalesce_seconds = coalesce_seconds

    def wake(self) -> None:
        self._wake.set()

    async def _publish_batch(self, conn, exchange) -> int:
        if self.coalesce_seconds > 0:
            await asyncio.sleep(self.coalesce_seconds)
        return await super()._publish_batch(conn, exchange)
