"""Counting one scenario: what went in, what was applied, duplicated, dead-lettered or lost.

The columns of the fault table, precisely:
- messages in: distinct messages (by message id) published to the scenario's events exchange while
  it ran, as seen by an EventSpy bound with `#` (started once every service is ready): the events
  of setting the district up and of the scenario, and any poison the scenario publishes itself.
- deliveries expected: for each message in, the services with a queue bound to its routing key
  (pur_contracts.SUBSCRIPTIONS), summed: the (service, message) pairs that must end applied or
  dead-lettered. Events nobody subscribes to (`sis.sync.completed`, `digest.sent`) count 0.
- applied: expected pairs whose message id is in that service's `inbox_message` (written in the
  same transaction as the handler's effect: a pair is applied exactly when its effect committed).
- dead-lettered: messages in every `.dlq` queue of the scenario's namespace at the end.
- lost: expected pairs neither applied nor in a `.dlq` of that service once the system settled,
  plus events still in an outbox then (never published, so never seen by the spy).
- duplicated: effects observed more than once: requests stored twice for one (requester,
  Idempotency-Key); request history entries repeating the request's previous action (a second
  `submitted`, `marked_done` twice in a row); digest deliveries beyond one per (recipient, local
  date); emails beyond one per recipient in the scenario's mailbox. Projection rows are keyed by
  id, so a duplicate there shows as a stale version, which `projection_gaps` reports.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter

import aio_pika
from pur_contracts import SUBSCRIPTIONS
from pur_kit.consumer import REASON_HEADER
from pur_kit.testing import EventSpy

from .system import SERVICES, FaultSystem
from .table import FaultRow

DEFINITIONS = __doc__.split("\n\n", 1)[1]

# (owner, SQL of the rows it owns, projections that must hold every one of them: the same columns).
_PROJECTIONS = [
    ("sis_sync", "SELECT id::text AS key, version FROM directory_user", ("settings", "requests", "digest")),
    ("sis_sync", "SELECT district_id || '/' || id AS key, version FROM school", ("requests", "digest")),
    ("settings", "SELECT district_id AS key, version FROM district_settings", ("sis_sync", "requests", "digest")),
    # A request's version also moves when its requester is renamed, without an event (the digest
    # follows the directory itself): the digest's copy is compared on what it shows instead.
    ("requests", "SELECT id::text AS key, status, appears_applied, requester_name FROM request", ("digest",)),
]
_DUPLICATES = {
    "requests stored twice for one Idempotency-Key": ("requests", """
        SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM request
        WHERE idempotency_key IS NOT NULL GROUP BY requester_id, idempotency_key) AS t"""),
    "history entries repeating the previous action": ("requests", """
        SELECT count(*) FROM (SELECT action, lag(action) OVER (PARTITION BY request_id ORDER BY at, id) AS prev
        FROM request_history) AS h WHERE action = prev OR (action = 'submitted' AND prev IS NOT NULL)"""),
    "digest deliveries beyond one per person and day": ("digest", """
        SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM digest_delivery
        GROUP BY recipient_id, local_date) AS t"""),
}


def _matches(binding: list[str], key: list[str]) -> bool:
    """AMQP topic matching: `*` stands for one word, `#` for zero or more."""
    if not binding:
        return not key
    if binding[0] == "#":
        return any(_matches(binding[1:], key[i:]) for i in range(len(key) + 1))
    return bool(key) and binding[0] in ("*", key[0]) and _matches(binding[1:], key[1:])


def bound(routing_key: str) -> set[tuple[str, str]]:
    """(service, purpose) of every queue bound to `routing_key`."""
    words = routing_key.split(".")
    return {queue for queue, keys in SUBSCRIPTIONS.items() if any(_matches(k.split("."), words) for k in keys)}


def subscribers(routing_key: str) -> set[str]:
    """Services with a queue bound to `routing_key`."""
    return {service for service, _ in bound(routing_key)}


class Ledger:
    def __init__(self, system: FaultSystem) -> None:
        self.system = system
        self.topology = system.topology
        self.spy = EventSpy(system.rabbitmq_url, system.topology.exchange, ["#"])
        self._amqp: aio_pika.abc.AbstractRobustConnection | None = None

    async def __aenter__(self) -> Ledger:
        await self.spy.__aenter__()
        self._amqp = await aio_pika.connect(self.system.rabbitmq_url)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.spy.__aexit__(*exc)
        await self._amqp.close()

    # --- what went in and where it should go -----------------------------------------------
    def messages(self) -> dict[str, aio_pika.abc.AbstractIncomingMessage]:
        seen: dict[str, aio_pika.abc.AbstractIncomingMessage] = {}
        for m in self.spy.messages:
            seen.setdefault(m.message_id or f"<no id {id(m)}>", m)
        return seen

    def expected(self) -> set[tuple[str, str]]:
        return {(service, mid) for mid, m in self.messages().items() for service in subscribers(m.routing_key or "")}

    async def applied(self, expected: set[tuple[str, str]]) -> set[tuple[str, str]]:
        found = set()
        for service in SERVICES:
            ids = [mid for s, mid in expected if s == service]
            if ids:
                rows = await self.system.fetch(
                    service, "SELECT DISTINCT message_id FROM inbox_message WHERE message_id = ANY($1::text[])", ids)
                found |= {(service, r["message_id"]) for r in rows}
        return found

    # --- queues ----------------------------------------------------------------------------
    async def depths(self, dead_letter: bool) -> dict[str, int]:
        """Ready messages per queue of the namespace (a passive declare: nothing is created)."""
        depths = {}
        for name in self.topology.queues_of_every_type():
            if name.endswith(".dlq") != dead_letter:
                continue
            channel = await self._amqp.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
                depths[name] = queue.declaration_result.message_count
            except aio_pika.exceptions.ChannelClosed:
                continue   # never declared by this run
            finally:
                if not channel.is_closed:
                    await channel.close()
        return depths

    async def dead_letters(self) -> dict[str, list[aio_pika.abc.AbstractIncomingMessage]]:
        """Every dead letter, read without acknowledging (closing the channel puts them back)."""
        found = {}
        for name, depth in (await self.depths(dead_letter=True)).items():
            channel = await self._amqp.channel()
            queue = await channel.declare_queue(name, passive=True)
            found[name] = [m for m in [await queue.get(no_ack=False, fail=False) for _ in range(depth)] if m]
            await channel.close()
        return found

    async def unpublished(self) -> int:
        return sum([await self.system.fetchval(s, "SELECT count(*) FROM outbox_message") for s in SERVICES])

    async def quiet(self) -> bool:
        """Nothing waits in an outbox, a consumer queue or a retry queue."""
        return not await self.unpublished() and not any((await self.depths(dead_letter=False)).values())

    # --- effects ---------------------------------------------------------------------------
    async def projection_gaps(self) -> list[str]:
        """Rows of an owner that a projection lacks or holds at another version (empty: converged)."""
        gaps = []
        for source, sql, targets in _PROJECTIONS:
            owned = {tuple(r) for r in await self.system.fetch(source, sql)}
            for target in targets:
                held = {tuple(r) for r in await self.system.fetch(target, sql)}
                if stale := len(owned - held):
                    gaps.append(f"{target}: {stale} of {len(owned)} rows of {source}'s {sql.rsplit(' ', 1)[1]}")
        return gaps

    async def duplicates(self) -> dict[str, int]:
        found = {what: int(await self.system.fetchval(service, sql)) for what, (service, sql) in _DUPLICATES.items()}
        found["emails beyond one per recipient"] = sum(
            n - 1 for n in Counter(self.system.mailbox.recipients()).values())
        return found

    # --- the whole picture -----------------------------------------------------------------
    async def settle(self, timeout: float = 120.0, still_for: float = 10.0) -> None:
        """Wait until every expected pair is applied or dead-lettered and the projections converged;
        or until nothing has moved for `still_for` seconds with nothing queued (then nothing will)."""
        deadline, still_since, last = time.monotonic() + timeout, None, None
        while time.monotonic() < deadline:
            expected = self.expected()
            applied = await self.applied(expected)
            dead = sum((await self.depths(dead_letter=True)).values())
            gaps = await self.projection_gaps()
            quiet = await self.quiet()
            if quiet and not gaps and len(applied) + dead >= len(expected):
                return
            state = (len(expected), len(applied), dead, tuple(gaps))
            if not quiet or state != last:
                still_since, last = time.monotonic(), state
            elif time.monotonic() - still_since > still_for:
                return
            await asyncio.sleep(0.5)

    async def row(self, scenario: str, **notes: int) -> FaultRow:
        expected = self.expected()
        applied = await self.applied(expected)
        letters = await self.dead_letters()
        dead_pairs = {(queue.split(".")[1], m.message_id) for queue, ms in letters.items() for m in ms}
        duplicates, unpublished = await self.duplicates(), await self.unpublished()
        reasons = Counter(str((m.headers or {}).get(REASON_HEADER, "no reason"))[:80]
                          for ms in letters.values() for m in ms)
        details = {**duplicates, "events left in an outbox": unpublished,
                   **{f"in {queue.split('.', 1)[1]}": len(ms) for queue, ms in letters.items() if ms},
                   **{f"reason {reason!r}": n for reason, n in reasons.most_common()}, **notes}
        return FaultRow(scenario, len(self.messages()), len(expected), len(applied),
                        sum(len(ms) for ms in letters.values()), len(expected - applied - dead_pairs) + unpublished,
                        sum(duplicates.values()), details)
