"""Inbox retention: delete `inbox_message` rows older than `<P>INBOX_RETENTION_DAYS`.

The inbox makes at-least-once delivery idempotent, but only has to remember a message for as long
as another copy of it can still arrive (`config.ServiceSettings.inbox_retention_days` says how long
that is and what happens after). Nothing else deletes from it: unpruned, it grew by ~15 GB a year per
consumer (docs/capacity.md).

How a pass works, and why:
- **Which rows**: `processed_at < now() - retention`, by the database's clock. The table has a BRIN
  index on `processed_at` (`INDEX`, `migrations.create_inbox_retention_index`): rows are inserted
  in time order, so each block range of the heap covers a narrow time span, and the index (a few
  KB for millions of rows) tells which ranges can hold old rows without reading the others.
- **Walked by block range** (`PAGES_PER_RANGE` pages, the index's own unit): the pass first lists
  the ranges that hold old rows (one bitmap scan of the index), then deletes range by range with a
  TID range scan over those pages only. Deleting with `... LIMIT n` over the whole table instead
  makes every batch start again at the first page and walk past the pages the earlier batches
  emptied: quadratic in a large backlog (the first pass after deploying, a year of rows).
- **Bounded batches**: at most `batch_size` rows per transaction (10,000 by default), so no
  transaction holds many row locks or a long snapshot, and a crash loses one batch's work.
- **Several replicas at once**: rows are taken with `FOR UPDATE SKIP LOCKED`, so two pruners never
  wait for each other or delete a row twice: each deletes what the other has not locked, and a
  range being pruned by another replica yields what is left and is passed. No advisory lock:
  nothing to reserve or to leak, and nothing outlives the transaction.
- **Behind PgBouncer** (transaction pooling): every statement runs in one transaction on the
  service's `Database` (no named prepared statements when `pooled`); the only setting is
  `SET LOCAL`. No session state.
- **The index is kept narrow**: a BRIN range's summary only ever widens. Once VACUUM has freed the
  pruned pages, new rows are written into them, and the range's summary would span from the oldest
  row it ever held to now: every range would then match `processed_at < cutoff` and each pass would
  read most of the table again (measured after one cycle: a pass with nothing to delete read 11,648
  of the table's 13,637 pages; 0-384 with what follows). So the pruner summarizes the ranges it
  emptied again, at its next pass (`brin_desummarize_range` + `brin_summarize_range`), from what
  they hold then: nothing, or only recent rows. That takes a SHARE UPDATE EXCLUSIVE lock on the table (it conflicts with VACUUM,
  not with reads or writes), with a `lock_timeout` shorter than `deadlock_timeout`, so that it
  never cancels an autovacuum; a range it could not lock waits for the pass after. What a
  restart forgets stays wide until its rows are pruned again (a retention period later).

The accepted consequence: a copy of a message delivered after its row was pruned is claimed and
handled again (see `ServiceSettings.inbox_retention_days` for why that is safe).
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from prometheus_client import Counter

from .logging import get_logger
from .uow import INBOX_TABLE, Database

log = get_logger(__name__)

INDEX = "ix_inbox_message_processed_at"
PAGES_PER_RANGE = 128  # BRIN's default, written out: the pass walks the heap in the index's ranges
BATCH_SIZE = 10_000
# Shorter than PostgreSQL's deadlock_timeout (1 s): a waiter blocked by an autovacuum past that
# cancels the autovacuum; giving up first leaves it running.
SUMMARIZE_LOCK_TIMEOUT = "500ms"
# Listing the ranges reads every old row once: milliseconds in steady state, but the first pass
# over a year's backlog (~90 M rows; 1.2 M took 1.2 s) outlasts the pool's 30 s command timeout.
LIST_RANGES_TIMEOUT = 1800.0

CREATE_INDEX = (f"CREATE INDEX IF NOT EXISTS {INDEX} ON {INBOX_TABLE} USING brin (processed_at) "
                f"WITH (pages_per_range = {PAGES_PER_RANGE})")
DROP_INDEX = f"DROP INDEX IF EXISTS {INDEX}"

ROWS_PRUNED = Counter("inbox_rows_pruned", "Inbox rows deleted by the retention job")
PRUNE_FAILURES = Counter("inbox_prune_failures", "Inbox retention passes that failed (retried next interval)")

_CUTOFF = "SELECT now() - make_interval(days => $1), to_regclass($2) IS NOT NULL, to_regclass($3) IS NOT NULL"
# The block ranges holding old rows (ctid's block number over the range size): a bitmap scan of
# the BRIN index on a pruned table, a sequential scan when most of the table is old.
_OLD_RANGES = (f"SELECT DISTINCT ((ctid::text::point)[0]::bigint / {PAGES_PER_RANGE}) AS block_range "
               f"FROM {INBOX_TABLE} WHERE processed_at < $1 ORDER BY block_range")
_DELETE_BATCH = f"""DELETE FROM {INBOX_TABLE} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {INBOX_TABLE} WHERE ctid >= $1 AND ctid < $2 AND processed_at < $3
    LIMIT $4 FOR UPDATE SKIP LOCKED))"""
_DESUMMARIZE = f"SELECT brin_desummarize_range('{INDEX}'::regclass, $1::bigint)"
_SUMMARIZE = f"SELECT brin_summarize_range('{INDEX}'::regclass, $1::bigint)"


@dataclass
class PruneResult:
    rows: int = 0
    batches: int = 0          # delete transactions (at most `batch_size` rows each)
    largest_batch: int = 0
    ranges: int = 0           # block ranges that held old rows
    summarized: int = 0       # ranges emptied by the previous pass, summarized again
    seconds: float = 0.0


class InboxPruner:
    """Deletes inbox rows older than `retention_days`, one pass at a time (`prune`), in
    transactions of at most `batch_size` rows, one heap block range at a time. Safe to run in
    several processes at once.

    It remembers the ranges it emptied, and summarizes them again at its next pass, not at once:
    a summary includes every row that some transaction might still see, and on a busy cluster
    there is nearly always one that started before the delete committed (measured: a summary taken
    right after the delete kept the deleted rows' times every time while another database ran
    its benchmark). A pass later they are gone for everyone.
    """

    def __init__(self, db: Database, retention_days: int, *, batch_size: int = BATCH_SIZE) -> None:
        self.db = db
        self.retention_days = retention_days
        self.batch_size = batch_size
        self.emptied: set[int] = set()  # ranges this process deleted from, not yet summarized again

    async def prune(self) -> PruneResult:
        """One pass: summarize the ranges of the last pass again, then delete every old row."""
        started = time.monotonic()
        result = PruneResult()
        async with self.db.acquire() as conn:
            cutoff, has_inbox, has_index = await conn.fetchrow(_CUTOFF, self.retention_days, INBOX_TABLE, INDEX)
            ranges = ([row[0] for row in await conn.fetch(_OLD_RANGES, cutoff, timeout=LIST_RANGES_TIMEOUT)]
                      if has_inbox else [])
        if has_index:
            result.summarized = await self._summarize_emptied()
        for block_range in ranges:
            if await self._prune_range(block_range, cutoff, result):
                self.emptied.add(block_range)
        result.ranges = len(ranges)
        result.seconds = time.monotonic() - started
        return result

    async def _prune_range(self, block_range: int, cutoff: datetime, result: PruneResult) -> int:
        """Delete the range's old rows, `batch_size` at most per transaction; how many were deleted."""
        first, end = (block_range * PAGES_PER_RANGE, 0), ((block_range + 1) * PAGES_PER_RANGE, 0)
        deleted = 0
        while True:
            async with self.db.acquire() as conn, conn.transaction():
                count = int((await conn.execute(_DELETE_BATCH, first, end, cutoff, self.batch_size)).split()[-1])
            result.batches += 1
            result.largest_batch = max(result.largest_batch, count)
            result.rows += count
            ROWS_PRUNED.inc(count)
            deleted += count
            if count < self.batch_size:
                return deleted

    async def _summarize_emptied(self) -> int:
        """Summarize each range emptied by the last pass from the rows it holds now; a range whose
        table lock could not be had in time stays for the next pass."""
        done = 0
        for block_range in sorted(self.emptied):
            first_block = block_range * PAGES_PER_RANGE
            try:
                async with self.db.acquire() as conn, conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{SUMMARIZE_LOCK_TIMEOUT}'")
                    await conn.execute(_DESUMMARIZE, first_block)
                    await conn.execute(_SUMMARIZE, first_block)
            except asyncpg.LockNotAvailableError:
                continue
            except asyncpg.InsufficientPrivilegeError:
                # only the table's owner may summarize; the service's own role owns the tables it
                # migrated. Otherwise deleting still works: the index only widens over time.
                log.warning("inbox_summarize_not_permitted", index=INDEX)
                self.emptied.clear()
                return done
            self.emptied.discard(block_range)
            done += 1
        return done


async def prune_forever(pruner: InboxPruner, interval_seconds: float, *,
                        first_delay_seconds: float | None = None) -> None:
    """Prune a little after start, then every `interval_seconds`, until cancelled.

    The first pass waits `first_delay_seconds` (default: 30-90 s, at random, and never more than
    the interval): after start-up's own work, and not at the same moment in every replica started
    together; each interval is jittered by 10% so replicas keep apart. A failed pass (database
    down, a statement timeout) is logged and tried again at the next interval.
    """
    if first_delay_seconds is None:
        first_delay_seconds = min(interval_seconds, random.uniform(30.0, 90.0))
    await asyncio.sleep(first_delay_seconds)
    while True:
        await prune_once(pruner)
        await asyncio.sleep(interval_seconds * random.uniform(0.9, 1.1))


async def prune_once(pruner: InboxPruner) -> PruneResult | None:
    """A pass that logs its outcome and never raises but for cancellation (None when it failed)."""
    started = time.monotonic()
    try:
        result = await pruner.prune()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the loop must outlive an outage: the next interval tries again
        PRUNE_FAILURES.inc()
        log.warning("inbox_prune_failed", error=type(exc).__name__,
                    seconds=round(time.monotonic() - started, 3))
        return None
    log.info("inbox_pruned", rows=result.rows, batches=result.batches, ranges=result.ranges,
             summarized=result.summarized, retention_days=pruner.retention_days, seconds=round(result.seconds, 3))
    return result
