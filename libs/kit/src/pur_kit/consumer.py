"""Consumers of contract events: one FastStream subscriber per queue, one typed handler per event,
and one middleware that retries failures with a delay and dead-letters poison.

Topology of one consumer queue ``Q`` (names from ``pur_contracts.Topology``):
- ``Q`` is bound to the events exchange by the consumer's routing keys; its dead-letter
  arguments point at ``Q.dlq`` so even a rejected message is kept, never dropped.
- ``Q.retry`` holds a failed message for ``retry_delay * 2**attempt`` (per-message TTL), then
  dead-letters it back to ``Q``.
- ``Q.dlq`` keeps what could not be processed, with the reason in ``x-dead-letter-reason``.
The three are classic queues, or quorum queues (replicated, under ``.q`` names) when the topology's
``queue_type`` says so: see `queue_arguments`.

Each event class gets its own FastStream handler on the queue's subscriber, chosen by the message's
``type`` property: FastStream decodes the body and validates it into the contract model, and the
service's handler receives that model. What no handler takes (an unknown type, a body over
``max_message_bytes``, which is refused before it is parsed), what does not decode or validate, and
what keeps failing after the retries goes to ``Q.dlq``. Handlers are expected to be idempotent
(the kit's inbox, ``pur_kit.uow.UnitOfWork.claim``): delivery is at least once.

Only a handler that fails on its own input spends retries. When it fails because its database (or
the broker) cannot be reached or used (`failures.is_unavailable`), that is an outage, not poison:
the consumer pauses. The message stays unacknowledged in the handler, deliveries stop at the
prefetch window, a single probe waits for the dependency with a growing delay, and then every held
message is handled again without counting an attempt. An outage of any length dead-letters nothing.

What operators see: `consumer_messages_total{consumer, outcome}` counts every outcome; a warning
names each failure as it happens (`handler_failed`, `message_dead_lettered`, `consumer_paused`,
`consumer_cannot_route`) and `message_handled` says where each message that was not processed
went (INFO); a busy consumer logs `messages_handled` with its outcome counts every
`summary_seconds` (10 s). A processed message is logged at DEBUG only.

Per message, the kit costs one handler lookup (a coroutine filter on the AMQP type), the body
decoded straight into the model, and one ack; the delivery's properties reach the handler through a
context variable (`_delivery`), not through FastStream's dependency injection (see there).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faststream import AckPolicy
from faststream.exceptions import SubscriberNotFound
from faststream.middlewares import BaseMiddleware
from faststream.rabbit import Channel, ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue, RabbitRouter
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from pur_contracts import Event, Topology

from .failures import describe, is_unavailable
from .logging import correlation_id_var, get_logger

log = get_logger(__name__)

RETRY_COUNT_HEADER = "x-retry-count"
REASON_HEADER = "x-dead-letter-reason"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"
DELIVERY_COUNT_HEADER = "x-delivery-count"  # set by a quorum queue on each delivery
# Events are small (a user with its schools is a few KiB); parsing a huge body into models and
# projections costs many times its size, so anything larger is refused before it is parsed.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024

# Quorum queues count the deliveries of each message and dead-letter it (to Q.dlq) past this limit.
# The kit's retries never come near it: a retry is a new message (republished to Q.retry, then back
# to Q with a fresh count) and the original is acked. Only a message handed back to the queue many
# times (a consumer process that dies on it, shutdowns while paused) reaches it: the guard against a
# poison message that kills its consumer before the kit can count an attempt. High enough that
# restarts and broker failovers, which also hand unacked messages back, never reach it.
QUORUM_DELIVERY_LIMIT = 20

CONSUMER_PAUSED = Gauge("consumer_paused", "1 while the consumer waits for an unavailable dependency", ["consumer"])
CONSUMER_MESSAGES = Counter("consumer_messages_total", "Messages handled, by outcome", ["consumer", "outcome"])
OUTCOMES = ("processed", "retry_scheduled", "dead_lettered", "requeued", "abandoned")
# How often a busy consumer logs `messages_handled` (its outcome counts since the last one). A
# processed message is logged at DEBUG only: at INFO each one cost a JSON line rendered and a write
# to the log pipe (and the collector's read), and a roster import of 100,000 users wrote 100,000
# lines per service that said nothing the counter does not. Every other outcome is logged as it happens.
SUMMARY_SECONDS = 10.0

# The delivery whose handler is running: (message id, correlation id, attempt), as the AMQP
# properties say (None when absent). Set by the middleware around the handler's call and read by
# the typed handler (`_add_handler`). Asking FastStream for the message instead (a `Context`
# parameter) made FastDepends resolve that parameter in a worker thread, an anyio task group and
# a thread hop per message.
_delivery: ContextVar[tuple[str | None, str | None, int]] = ContextVar("pur_kit_delivery")


class _Abandoned(Exception):
    """Shutting down while paused: the message goes back to the queue for another instance."""


class _HandlerFailed(Exception):
    """The service's handler raised (the cause); anything else raised around it is the message's fault."""


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    correlation_id: str | None
    attempt: int


EventHandler = Callable[[Event, Delivery], Awaitable[None]]
Probe = Callable[[], Awaitable[None]]  # raises while the dependency is unavailable


def describe_validation_error(exc: ValidationError) -> str:
    """Field locations and error kinds only: input values may be personal data."""
    parts = [f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['type']}" for e in exc.errors()[:5]]
    return "validation_error: " + "; ".join(parts)


def _reason(exc: BaseException, body_size: int, limit: int, message_type: str | None) -> str:
    """Why a message no handler could take is dead-lettered (no input values: they may be personal)."""
    if isinstance(exc, ValidationError):
        return describe_validation_error(exc)
    if isinstance(exc, SubscriberNotFound):
        if body_size > limit:
            return f"too_large: {body_size} bytes (limit {limit})"
        return f"unknown_event_type: {str(message_type)[:100]!r}"
    return f"undecodable: {type(exc).__name__}"


def queue_arguments(queue_type: str, dead_letter_to: str | None,
                    delivery_limit: int | None = None) -> dict[str, Any]:
    """Declaration arguments of one queue of a consumer's three (x-queue-type included).

    `dead_letter_to`: the queue its rejected or expired messages go to (through the default
    exchange). A quorum queue dead-letters at least once (RabbitMQ 3.10+: the message stays in the
    source queue until the target confirms it), which needs `x-overflow: reject-publish`; no length
    limit is set, so nothing is ever refused for overflow. Per-message TTL, which the retry queue
    uses, works on quorum queues from RabbitMQ 3.10 on."""
    arguments: dict[str, Any] = {"x-queue-type": queue_type}
    if dead_letter_to is not None:
        arguments |= {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letter_to}
    if queue_type == "quorum":
        if dead_letter_to is not None:
            arguments |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
        if delivery_limit is not None:
            arguments["x-delivery-limit"] = delivery_limit
    return arguments


def _rabbit_queue(name: str, arguments: dict[str, Any], **kwargs: Any) -> RabbitQueue:
    arguments = dict(arguments)
    queue_type = QueueType(arguments.pop("x-queue-type"))
    return RabbitQueue(name, queue_type, durable=True, arguments=arguments, **kwargs)


class EventConsumer:
    """The subscriber of one queue of a service, with a typed handler per event bound to it."""

    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        consumer: str,
        handlers: Mapping[type[Event], EventHandler],
        *,
        purpose: str = "main",
        max_retries: int = 5,
        retry_delay_ms: int = 500,
        prefetch: int = 32,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        probe: Probe | None = None,
        max_pause_delay: float = 5.0,
        delivery_limit: int = QUORUM_DELIVERY_LIMIT,
        summary_seconds: float = SUMMARY_SECONDS,
    ) -> None:
        self.broker = broker
        self.name = f"{consumer}.{purpose}"
        self.queue_name = topology.queue(consumer, purpose)
        self.retry_queue_name = topology.retry_queue(self.queue_name)
        self.dlq_name = topology.dead_letter_queue(self.queue_name)
        self.routing_keys = topology.bindings(consumer, purpose)
        unbound = {event.event_name for event in handlers} - set(self.routing_keys)
        if unbound:
            raise ValueError(f"{self.name}: handlers for events its queue is not bound to: {unbound}")
        self.max_retries = max_retries
        self.retry_delay_ms = retry_delay_ms
        self.max_message_bytes = max_message_bytes
        self.probe = probe
        self.max_pause_delay = max_pause_delay
        self._available = asyncio.Event()
        self._available.set()
        self._prober: asyncio.Task | None = None
        self._closing = False
        self.pauses = 0
        self.processed = 0
        self.summary_seconds = summary_seconds
        self._outcomes = {outcome: CONSUMER_MESSAGES.labels(self.name, outcome) for outcome in OUTCOMES}
        self._since_summary = dict.fromkeys(OUTCOMES, 0)
        self._summary_at = time.monotonic()
        self.exchange = RabbitExchange(topology.exchange, type=ExchangeType.TOPIC, durable=True)
        self.queue_type = topology.queue_type
        self.queue = _rabbit_queue(
            self.queue_name, queue_arguments(self.queue_type, self.dlq_name, delivery_limit),
            routing_key=self.routing_keys[0],
        )
        self.channel = Channel(prefetch_count=prefetch)
        router = RabbitRouter(middlewares=[functools.partial(_Reliability, consumer=self)])
        self.subscriber = router.subscriber(
            self.queue, self.exchange, ack_policy=AckPolicy.MANUAL, no_reply=True, channel=self.channel,
            title=self.queue_name,
            description=f"The {self.name} consumer: " + ", ".join(sorted(e.event_name for e in handlers)),
        )
        for event_class, handler in handlers.items():
            self._add_handler(event_class, handler)
        broker.include_router(router)

    def _add_handler(self, event_class: type[Event], handler: EventHandler) -> None:
        name, limit = event_class.event_name, self.max_message_bytes

        async def on_event(event: Any) -> None:
            message_id, correlation_id, attempt = _delivery.get()
            # Without an AMQP message id the event's own id is the inbox key, the same on every
            # redelivery (FastStream would give each delivery a new random one).
            delivery = Delivery(message_id or str(event.event_id), correlation_id, attempt)
            try:
                await handler(event, delivery)
            except Exception as exc:
                raise _HandlerFailed from exc

        async def decode(msg: Any) -> Event:
            # Straight from the JSON bytes into the contract model (pydantic's fastest path); the
            # handler's annotation then takes the model as it is.
            return event_class.model_validate_json(msg.body)

        # FastStream reads the handler's signature: the handler is typed by the contract model.
        on_event.__annotations__ = {"event": event_class, "return": None}
        on_event.__name__ = on_event.__qualname__ = getattr(handler, "__name__", f"on_{event_class.__name__}")
        async def takes(msg: Any) -> bool:
            # A coroutine: FastStream runs a plain function filter in a worker thread, a thread hop
            # per handler tried per message (+1 ms at the median end to end, bench/bench_e2e.py).
            return msg.raw_message.type == name and len(msg.body) <= limit

        self.subscriber(filter=takes, decoder=decode)(on_event)

    async def declare(self, unbind: tuple[str, ...] = ()) -> None:
        """Declare exchange, queues and every binding (idempotent); call after `broker.connect()`.

        `unbind`: routing keys this queue may carry from an older topology that now belong to
        another queue of the service (removing a binding that does not exist is a no-op)."""
        exchange = await self.broker.declare_exchange(self.exchange)
        await self.broker.declare_queue(_rabbit_queue(self.dlq_name, queue_arguments(self.queue_type, None)))
        await self.broker.declare_queue(
            _rabbit_queue(self.retry_queue_name, queue_arguments(self.queue_type, self.queue_name)))
        # On the subscriber's own channel: FastStream caches a declared queue by its arguments and
        # consumes on the channel it was first declared on, so declaring it on the default channel
        # would lose the prefetch limit (every queued message delivered at once, handled at once).
        queue = await self.broker.config.declarer.declare_queue(self.queue, channel=self.channel)
        for key in self.routing_keys:
            await queue.bind(exchange, routing_key=key)
        for key in unbind:
            if key not in self.routing_keys:
                await queue.unbind(exchange, routing_key=key)

    @property
    def paused(self) -> bool:
        return not self._available.is_set()

    async def _handle(self, call_next: Callable[[Any], Awaitable[Any]], message: Any) -> str:
        """Run the typed handler until it succeeds, spends its retries, or the input is refused;
        the outcome says where the message went. Raises only if it could not be routed."""
        raw = message.raw_message
        attempt = int((raw.headers or {}).get(RETRY_COUNT_HEADER, 0))
        _delivery.set((raw.message_id, raw.correlation_id, attempt))
        while True:
            await self._available.wait()
            if self._closing:
                raise _Abandoned
            try:
                await call_next(message)
                return "processed"
            except _HandlerFailed as failed:
                exc = failed.__cause__ or failed
                if is_unavailable(exc):
                    self._pause(exc)
                    continue
                log.warning("handler_failed", consumer=self.name, event_type=raw.type,
                            message_id=raw.message_id, attempt=attempt, error=type(exc).__name__)
                if attempt < self.max_retries:
                    await self._schedule_retry(raw, attempt + 1)
                    return "retry_scheduled"
                await self._dead_letter(raw, f"handler_failed: {type(exc).__name__} after {attempt + 1} attempts")
                return "dead_lettered"
            except Exception as exc:  # the body did not decode or validate into the contract model
                await self._dead_letter(raw, _reason(exc, len(raw.body), self.max_message_bytes, raw.type))
                return "dead_lettered"

    async def _finish(self, raw, outcome_of: Callable[[], Awaitable[str]]) -> None:
        """Route the delivery (`outcome_of`), then acknowledge it; count and log the outcome."""
        started = time.perf_counter()
        try:
            outcome = await outcome_of()
        except _Abandoned:
            outcome = "abandoned"
            with contextlib.suppress(Exception):
                await raw.nack(requeue=True)
        except Exception as exc:  # republishing to the retry queue or DLQ failed: keep the message
            outcome = "requeued"
            log.warning("consumer_cannot_route", consumer=self.name, message_id=raw.message_id,
                        error=type(exc).__name__)
            with contextlib.suppress(Exception):
                await raw.nack(requeue=True)
        else:
            # After a broker outage the channel this delivery came on is gone; the broker redelivers
            # the message and the inbox recognises it.
            with contextlib.suppress(Exception):
                await raw.ack()
        self.processed += 1
        self._outcomes[outcome].inc()
        self._since_summary[outcome] += 1
        ms = round((time.perf_counter() - started) * 1000, 2)
        if outcome == "processed":
            log.debug("message_handled", consumer=self.name, event_type=raw.type, message_id=raw.message_id,
                      outcome=outcome, ms=ms)
        else:
            log.info("message_handled", consumer=self.name, event_type=raw.type, message_id=raw.message_id,
                     outcome=outcome, ms=ms)
        if time.monotonic() - self._summary_at >= self.summary_seconds:
            self._log_summary()

    def _log_summary(self) -> None:
        """`messages_handled`: what this consumer did since the last summary, by outcome (the
        counter `consumer_messages_total` has the running totals). Logged by the next message after
        `summary_seconds`: an idle consumer logs nothing."""
        now = time.monotonic()
        counts = {outcome: n for outcome, n in self._since_summary.items() if n}
        if counts:
            log.info("messages_handled", consumer=self.name, seconds=round(now - self._summary_at, 1), **counts)
        self._since_summary = dict.fromkeys(OUTCOMES, 0)
        self._summary_at = now

    def close(self) -> None:
        """Release the messages held during a pause (they are requeued) so shutdown does not wait."""
        self._log_summary()  # what was handled since the last summary
        self._closing = True
        if self._prober is not None:
            self._prober.cancel()
        self._available.set()

    def _pause(self, exc: Exception) -> None:
        if self.paused:
            return
        self._available.clear()
        self.pauses += 1
        CONSUMER_PAUSED.labels(self.name).set(1)
        log.warning("consumer_paused", consumer=self.name, error=describe(exc))
        self._prober = asyncio.create_task(self._wait_until_available(), name=f"{self.name}-probe")

    async def _wait_until_available(self) -> None:
        delay, paused_at = 0.25, time.monotonic()
        try:
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_pause_delay)
                if self.probe is None:
                    break  # the held handlers are the probe: they pause again if it is still down
                try:
                    await self.probe()
                    break
                except Exception as exc:
                    if not is_unavailable(exc):
                        break
        finally:
            self._available.set()
            CONSUMER_PAUSED.labels(self.name).set(0)
            log.info("consumer_resumed", consumer=self.name, paused_s=round(time.monotonic() - paused_at, 1))

    async def _republish(self, raw, queue: str, headers: dict, expiration: timedelta | None = None) -> None:
        await self.broker.publish(
            raw.body,
            routing_key=queue,
            persist=True,
            headers=headers,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            message_type=raw.type,
            content_type=raw.content_type,
            expiration=expiration,
        )

    async def _schedule_retry(self, raw, attempt: int) -> None:
        delay_ms = min(self.retry_delay_ms * 2 ** (attempt - 1), 60_000)
        # Back from the retry queue the message carries the queue's name as its routing key: keep the
        # event's own, for the dead-letter record.
        headers = {ORIGINAL_ROUTING_KEY_HEADER: raw.routing_key or "", **_carried_headers(raw),
                   RETRY_COUNT_HEADER: attempt}
        await self._republish(raw, self.retry_queue_name, headers, timedelta(milliseconds=delay_ms))

    async def _dead_letter(self, raw, reason: str) -> None:
        headers = {
            **_carried_headers(raw),
            REASON_HEADER: reason,
            ORIGINAL_ROUTING_KEY_HEADER: (raw.headers or {}).get(ORIGINAL_ROUTING_KEY_HEADER, raw.routing_key or ""),
            "x-consumer": self.name,
        }
        await self._republish(raw, self.dlq_name, headers)
        log.warning("message_dead_lettered", consumer=self.name, event_type=raw.type,
                    message_id=raw.message_id, reason=reason)


def _carried_headers(raw) -> dict:
    """The headers a retry or dead letter carries over from the delivery: all but the quorum
    queue's own `x-delivery-count` (how often that queue delivered this copy), which would mislead
    on the new message."""
    return {k: v for k, v in (raw.headers or {}).items() if k != DELIVERY_COUNT_HEADER}


class _Reliability(BaseMiddleware):
    """FastStream middleware of one consumer: correlation id, retries, pauses, dead-lettering, acks."""

    def __init__(self, msg: Any, /, *, context: Any, consumer: EventConsumer) -> None:
        super().__init__(msg, context=context)
        self.consumer = consumer
        self.handled = False
        self._token = None

    async def on_receive(self) -> None:
        self._token = correlation_id_var.set(self.msg.correlation_id)

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        self.handled = True
        await self.consumer._finish(self.msg, lambda: self.consumer._handle(call_next, msg))

    async def after_processed(self, exc_type=None, exc_val=None, exc_tb=None) -> bool | None:
        try:
            if exc_val is not None and not self.handled and isinstance(exc_val, Exception):
                # No handler took it (unknown type, too large) or it failed to parse: dead-letter it.
                consumer, raw = self.consumer, self.msg

                async def dead_letter() -> str:
                    await consumer._dead_letter(
                        raw, _reason(exc_val, len(raw.body), consumer.max_message_bytes, raw.type))
                    return "dead_lettered"

                await consumer._finish(raw, dead_letter)
                return True
            return False
        finally:
            if self._token is not None:
                correlation_id_var.reset(self._token)
