"""The composition of one service process: database, broker, consumers, outbox relay, loops.

HTTP keeps serving while RabbitMQ or PostgreSQL is down: `/readyz` says which one, requests
that need it get 503, and everything reconnects on its own when the dependency comes back.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from pur_contracts import PUBLICATIONS, SUBSCRIPTIONS, Event, Topology
from prometheus_client import Gauge

from .config import ServiceSettings
from .consumer import Delivery, EventConsumer, EventHandler
from .dlq import dlq_depth_loop
from .inbox_retention import InboxPruner, prune_forever
from .logging import get_logger
from .outbox import OutboxRelay
from .uow import Database, UnitOfWork

UowHandler = Callable[[Event, UnitOfWork], Awaitable[None]]

log = get_logger(__name__)
# At a graceful stop, how long the relay may take to publish what was committed before it stops
# (whatever is left stays in the outbox for another replica, or this one's next start).
BROKER_STOP_SECONDS = 40.0  # FastStream waits up to 15 s per subscriber for the deliveries in flight
RELAY_DRAIN_SECONDS = 10.0
TASKS_STOP_SECONDS = 10.0   # then how long the cancelled background tasks may take to finish

DEPENDENCY_UP = Gauge("dependency_up", "1 while the dependency answers, by the last check", ["dependency"])


def tune_gc(gen0_threshold: int) -> None:
    """Make the cyclic garbage collector cheap for a long-running service (0: leave it alone).

    With Python's defaults the collector walked the whole heap of the app (FastAPI, pydantic,
    SQLAlchemy, the broker...) often, and it showed as the submission bench's tail: freezing
    what start-up built and collecting the youngest generation every 20,000 allocations instead of
    700 took the service's CPU per submission from 1.2 to 0.97 ms and its p99 at 0.5x the
    ceiling from 195-303 ms to 47-95 ms (bench/bench_requests.py). Cycles of garbage live a little
    longer; reference counting still frees everything else at once.
    """
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, 50, 100)


P = TypeVar("P")


def service_consumers(broker: RabbitBroker, topology: Topology, service: str,
                      handlers: Mapping[type[Event], EventHandler], **options: Any) -> list[EventConsumer]:
    """One consumer per queue of `service` (`pur_contracts.SUBSCRIPTIONS`), each given the handlers
    of the events bound to it: a concern on its own queue (settings changes) is never stuck behind
    another's backlog (a roster import's directory events)."""
    purposes = [purpose for name, purpose in SUBSCRIPTIONS if name == service]
    bound = {key for purpose in purposes for key in topology.bindings(service, purpose)}
    if unbound := {event.event_name for event in handlers} - bound:
        raise ValueError(f"{service}: handlers for events none of its queues is bound to: {unbound}")
    return [
        EventConsumer(broker, topology, service,
                      {event: handler for event, handler in handlers.items()
                       if event.event_name in topology.bindings(service, purpose)},
                      purpose=purpose, **options)
        for purpose in purposes
    ]


def in_unit_of_work(handler: UowHandler,
                    unit_of_work: Callable[[], contextlib.AbstractAsyncContextManager[UnitOfWork]]) -> EventHandler:
    """The consumer's handler for a service handler `handler(event, uow)`: a unit of work per
    delivery, the inbox claim first (a duplicate delivery stops there), the kit's commit last."""
    async def handle(event: Event, delivery: Delivery) -> None:
        async with unit_of_work() as uow:
            if not await uow.claim(delivery.message_id):
                return
            await handler(event, uow)
            await uow.commit()
    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


class ServiceRuntime(Generic[P]):
    """The kit's part of every service process. A service's `bootstrap()` creates it, sets `parts`
    (what the service adds: its handlers, runners, writers...), subscribes its handlers and adds its
    start-up hooks and loops; its entrypoints reach everything through `app.state.runtime`."""

    parts: P

    def __init__(self, settings: ServiceSettings, service: str, *, outbox_gather_seconds: float = 0.0,
                 repositories: Callable = lambda conn: None) -> None:
        self.settings = settings
        self.service = service
        self.topology = Topology(settings.events_namespace, settings.queue_type)
        self.broker = RabbitBroker(settings.rabbitmq_url, logger=None)
        self.consumers: list[EventConsumer] = []
        self.relay = OutboxRelay(
            settings.database_url,
            settings.rabbitmq_url,
            self.topology.exchange,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
            app_id=service,
            gather_seconds=outbox_gather_seconds,
            listen=settings.direct_url or False,  # behind a pooler, LISTEN needs PostgreSQL itself
            pooled=settings.behind_pooler,
        )
        # Every use of this pool is a unit of work or a read: nothing leaves session state behind.
        self.db = Database(settings.database_url, settings.db_pool_size, consumer=f"{service}.main",
                           repositories=repositories, on_events_committed=self.relay.wake,
                           reset_on_release=False, pooled=settings.behind_pooler)
        self._document_publications()
        self.inbox_pruner = InboxPruner(self.db, settings.inbox_retention_days)
        self.loops: list[Callable[[], Awaitable[None]]] = [self._watch_dead_letters, self._prune_inbox]
        self.on_broker_started: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []  # run after the kit's own shutdown
        self.broker_started = False
        self.broker_started_once = False
        self._tasks: list[asyncio.Task] = []

    def _document_publications(self) -> None:
        """Publishers for the AsyncAPI document only: events really leave through the outbox."""
        exchange = RabbitExchange(self.topology.exchange, type=ExchangeType.TOPIC, durable=True)
        for event in PUBLICATIONS.get(self.service, ()):
            self.broker.publisher(
                exchange=exchange, routing_key=event.event_name, schema=event, persist=True,
                title=f"{event.event_name}:publish", description=(event.__doc__ or "").strip() or None,
            )

    def add_consumers(self, handlers: Mapping[type[Event], EventHandler]) -> list[EventConsumer]:
        """Consume the service's events with handlers of the shape `handler(event, delivery)`."""
        s = self.settings
        self.consumers += service_consumers(
            self.broker, self.topology, self.service, handlers, max_retries=s.consumer_max_retries,
            retry_delay_ms=s.consumer_retry_delay_ms, prefetch=s.consumer_prefetch,
            max_message_bytes=s.consumer_max_message_bytes, probe=self.probe_database)
        return self.consumers

    def subscribe(self, handlers: Mapping[type[Event], UowHandler]) -> list[EventConsumer]:
        """Consume the service's events with handlers of the shape `handler(event, uow)`: each
        delivery gets its own unit of work, claimed in the inbox first (a duplicate stops there),
        committed by the kit after the handler returns."""
        return self.add_consumers({event: in_unit_of_work(handler, self.db.unit_of_work)
                                   for event, handler in handlers.items()})

    async def _watch_dead_letters(self) -> None:
        """Keep `consumer_dead_letter_messages{queue}` current for every DLQ of this service.

        Only once the consumers have declared their queues: a passive declare of a queue that does
        not exist yet is an error in the broker's log."""
        while not self.broker_started_once:
            await asyncio.sleep(0.5)
        await dlq_depth_loop(self.settings.rabbitmq_url, [c.dlq_name for c in self.consumers])

    async def _prune_inbox(self) -> None:
        """Delete inbox rows older than `INBOX_RETENTION_DAYS`, a little after start (at a random
        moment, so replicas started together do not prune together) and then every
        `INBOX_PRUNE_INTERVAL_SECONDS`; a pass that fails (database down) is tried again at the next."""
        await prune_forever(self.inbox_pruner, self.settings.inbox_prune_interval_seconds)

    async def probe_database(self) -> None:
        await self.db.ping()

    async def _start_broker(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.broker.connect()
                keys = {key for consumer in self.consumers for key in consumer.routing_keys}
                for consumer in self.consumers:
                    await consumer.declare(unbind=tuple(sorted(keys)))
                await self.broker.start()
                self.broker_started = True
                self.broker_started_once = True
                log.info("broker_started", queues=[c.queue_name for c in self.consumers])
                for hook in self.on_broker_started:
                    await hook()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker_unavailable", error=type(exc).__name__, retry_in=backoff)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def start(self) -> None:
        await self.db.start()
        self._tasks.append(asyncio.create_task(self._start_broker(), name="broker"))
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self._tasks.append(asyncio.create_task(self.watch_dependencies(), name="dependency-watch"))
        for loop in self.loops:
            self._tasks.append(asyncio.create_task(loop(), name=getattr(loop, "__name__", "loop")))

    async def stop(self) -> None:
        """A graceful stop (SIGTERM; uvicorn has already finished the HTTP requests in flight):
        stop consuming and let the deliveries in flight finish (FastStream's graceful timeout; each
        commits or rolls back whole, and an unacked one goes to another replica), then let the relay
        publish what was committed before it stops, then the rest. Bounded by about
        `RELAY_DRAIN_SECONDS` plus the broker's graceful timeout."""
        started = time.monotonic()
        for consumer in self.consumers:
            consumer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.broker.stop(), BROKER_STOP_SECONDS)
        self.broker_started = False
        self.relay.stop()
        relay = next((t for t in self._tasks if t.get_name() == "outbox-relay"), None)
        if relay is not None:
            await asyncio.wait({relay}, timeout=RELAY_DRAIN_SECONDS)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=TASKS_STOP_SECONDS)
            if stuck:  # never hang a shutdown on a task that ignores its cancellation
                log.warning("tasks_not_stopped", tasks=sorted(t.get_name() for t in stuck))
        self._tasks.clear()
        for hook in self.on_stop:
            with contextlib.suppress(Exception):
                await hook()
        await self.db.close()
        log.info("service_stopped", seconds=round(time.monotonic() - started, 3),
                 outbox_published=self.relay.published)

    async def _database_check(self) -> str:
        try:
            await self.probe_database()
        except Exception as exc:
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    async def _broker_check(self) -> str:
        try:
            ok = self.broker_started and await self.broker.ping(timeout=1.0)
        except Exception:
            ok = False
        return "ok" if ok else "unavailable"

    async def readiness(self) -> dict[str, str]:
        """Can this instance serve its HTTP traffic? Its database must answer, and the broker must
        have been reached once (its queues and bindings are declared then). A later broker outage
        does not make it unready: submissions still succeed through the outbox, and a load balancer
        taking every instance out would turn a broker outage into a full one."""
        checks = {"database": await self._database_check()}
        checks["started"] = "ok" if self.broker_started_once else "waiting for the broker"
        DEPENDENCY_UP.labels("database").set(checks["database"] == "ok")
        return checks

    async def dependencies(self) -> dict[str, str]:
        """Every dependency's state, for monitoring (not for load balancers)."""
        checks = {"database": await self._database_check(), "broker": await self._broker_check(),
                  "outbox_relay": "ok" if self.relay.connected else "connecting"}
        for name, state in checks.items():
            DEPENDENCY_UP.labels(name).set(state == "ok")
        return checks

    async def watch_dependencies(self, interval: float = 5.0) -> None:
        """Keep the `dependency_up` gauges current for scrapes (logging each change once)."""
        last: dict[str, str] = {}
        while True:
            checks = await self.dependencies()
            for name, state in checks.items():
                if last.get(name, "ok") != state:
                    (log.info if state == "ok" else log.warning)("dependency_state", dependency=name, state=state)
            last = checks
            await asyncio.sleep(interval)

    @asynccontextmanager
    async def lifespan(self, _app) -> AsyncIterator[None]:
        await self.start()
        tune_gc(self.settings.gc_gen0_threshold)
        try:
            yield
        finally:
            await self.stop()
