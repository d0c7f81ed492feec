"""A consumer that parses contract events, retries failures with a delay and dead-letters poison.

Topology of one consumer queue ``Q`` (names from ``pur_contracts.Topology``):
- ``Q`` is bound to the events exchange by the consumer's routing keys; its dead-letter
  arguments point at ``Q.dlq`` so even a rejected message is kept, never dropped.
- ``Q.retry`` holds a failed message for ``retry_delay * 2**attempt`` (per-message TTL), then
  dead-letters it back to ``Q``.
- ``Q.dlq`` keeps what could not be processed, with the reason in ``x-dead-letter-reason``.
Handlers are expected to be idempotent (see ``inbox.claim_message``): delivery is at least once.

Only a handler that fails on its own input spends retries. When it fails because its database (or
the broker) cannot be reached or used (`failures.is_unavailable`), that is an outage, not poison:
the consumer pauses. The message stays unacknowledged in the handler, deliveries stop at the
prefetch window, a single probe waits for the dependency with a growing delay, and then every held
message is handled again without counting an attempt. An outage of any length dead-letters nothing.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from faststream import AckPolicy
from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from pur_contracts import Event, Topology

from .failures import describe, is_unavailable
from .logging import correlation_id_var, get_logger

log = get_logger(__name__)

RETRY_COUNT_HEADER = "x-retry-count"
REASON_HEADER = "x-dead-letter-reason"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"
# Events are small (a user with its schools is a few KiB); parsing a huge body into models and
# projections costs many times its size, so anything larger is refused before it is parsed.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024

CONSUMER_PAUSED = Gauge("consumer_paused", "1 while the consumer waits for an unavailable dependency", ["consumer"])
CONSUMER_MESSAGES = Counter("consumer_messages_total", "Messages handled, by outcome", ["consumer", "outcome"])


class _Abandoned(Exception):
    pass


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


async def _undecoded(msg) -> bytes:
    # FastStream's own JSON decoding would fail on a malformed body before our handler runs,
    # leaving the message unacked; we parse (and dead-letter) it ourselves.
    return msg.body


class EventConsumer:
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
    ) -> None:
        self.broker = broker
        self.name = f"{consumer}.{purpose}"
        self.queue_name = topology.queue(consumer, purpose)
        self.retry_queue_name = topology.retry_queue(self.queue_name)
        self.dlq_name = topology.dead_letter_queue(self.queue_name)
        self.routing_keys = topology.bindings(consumer, purpose)
        self.handlers = {event.event_name: (event, handler) for event, handler in handlers.items()}
        unbound = set(self.handlers) - set(self.routing_keys)
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
        self.exchange = RabbitExchange(topology.exchange, type=ExchangeType.TOPIC, durable=True)
        self.queue = RabbitQueue(
            self.queue_name,
            durable=True,
            routing_key=self.routing_keys[0],
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dlq_name},
        )
        self.processed = 0
        self.channel = Channel(prefetch_count=prefetch)

        async def on_message(msg: RabbitMessage) -> None:
            await self._on_message(msg)

        broker.subscriber(
            self.queue,
            self.exchange,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            channel=self.channel,
            decoder=_undecoded,
            title=self.queue_name,
        )(on_message)

    async def declare(self, unbind: tuple[str, ...] = ()) -> None:
        """Declare exchange, queues and every binding (idempotent); call after `broker.connect()`.

        `unbind`: routing keys this queue may carry from an older topology that now belong to
        another queue of the service (removing a binding that does not exist is a no-op)."""
        exchange = await self.broker.declare_exchange(self.exchange)
        await self.broker.declare_queue(RabbitQueue(self.dlq_name, durable=True))
        await self.broker.declare_queue(
            RabbitQueue(
                self.retry_queue_name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue_name},
            )
        )
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

    async def _on_message(self, msg: RabbitMessage) -> None:
        raw = msg.raw_message
        token = correlation_id_var.set(raw.correlation_id)
        started = time.perf_counter()
        try:
            outcome = await self._handle(raw)
        except _Abandoned:
            outcome = "abandoned"  # shutting down while paused: the broker gives it to another instance
            with contextlib.suppress(Exception):
                await msg.nack(requeue=True)
        except Exception as exc:  # republishing to the retry queue or DLQ failed: keep the message
            outcome = "requeued"
            log.warning("consumer_cannot_route", consumer=self.name, message_id=raw.message_id,
                        error=type(exc).__name__)
            with contextlib.suppress(Exception):
                await msg.nack(requeue=True)
        else:
            # After a broker outage the channel this delivery came on is gone; the broker redelivers
            # the message and the inbox recognises it.
            with contextlib.suppress(Exception):
                await msg.ack()
        finally:
            correlation_id_var.reset(token)
        self.processed += 1
        CONSUMER_MESSAGES.labels(self.name, outcome).inc()
        log.info("message_handled", consumer=self.name, event_type=raw.type, message_id=raw.message_id,
                 outcome=outcome, ms=round((time.perf_counter() - started) * 1000, 2))

    async def _handle(self, raw) -> str:
        """Handle one delivery; the outcome says where it went. Raises only if it could not be routed."""
        if len(raw.body) > self.max_message_bytes:
            await self._dead_letter(raw, f"too_large: {len(raw.body)} bytes (limit {self.max_message_bytes})")
            return "dead_lettered"
        entry = self.handlers.get(raw.type or "")
        if entry is None:
            await self._dead_letter(raw, f"unknown_event_type: {str(raw.type)[:100]!r}")
            return "dead_lettered"
        event_cls, handler = entry
        try:
            event = event_cls.model_validate_json(raw.body)
        except ValidationError as exc:
            await self._dead_letter(raw, describe_validation_error(exc))
            return "dead_lettered"
        attempt = int((raw.headers or {}).get(RETRY_COUNT_HEADER, 0))
        delivery = Delivery(raw.message_id or str(event.event_id), raw.correlation_id, attempt)
        while True:
            await self._available.wait()
            if self._closing:
                raise _Abandoned
            try:
                await handler(event, delivery)
                return "processed"
            except Exception as exc:  # a failing handler never stops the consumer
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

    def close(self) -> None:
        """Release the messages held during a pause (they are requeued) so shutdown does not wait."""
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
        headers = {ORIGINAL_ROUTING_KEY_HEADER: raw.routing_key or "", **(raw.headers or {}),
                   RETRY_COUNT_HEADER: attempt}
        await self._republish(raw, self.retry_queue_name, headers, timedelta(milliseconds=delay_ms))

    async def _dead_letter(self, raw, reason: str) -> None:
        headers = {
            **(raw.headers or {}),
            REASON_HEADER: reason,
            ORIGINAL_ROUTING_KEY_HEADER: (raw.headers or {}).get(ORIGINAL_ROUTING_KEY_HEADER, raw.routing_key or ""),
            "x-consumer": self.name,
        }
        await self._republish(raw, self.dlq_name, headers)
        log.warning("message_dead_lettered", consumer=self.name, event_type=raw.type,
                    message_id=raw.message_id, reason=reason)
