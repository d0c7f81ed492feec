"""A consumer that parses contract events, retries failures with a delay and dead-letters poison.

Topology of one consumer queue ``Q`` (names from ``pur_contracts.Topology``):
- ``Q`` is bound to the events exchange by the consumer's routing keys; its dead-letter
  arguments point at ``Q.dlq`` so even a rejected message is kept, never dropped.
- ``Q.retry`` holds a failed message for ``retry_delay * 2**attempt`` (per-message TTL), then
  dead-letters it back to ``Q``.
- ``Q.dlq`` keeps what could not be processed, with the reason in ``x-dead-letter-reason``.
Handlers are expected to be idempotent (see ``inbox.claim_message``): delivery is at least once.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from faststream import AckPolicy
from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError
from pur_contracts import Event, Topology

from .logging import correlation_id_var, get_logger

log = get_logger(__name__)

RETRY_COUNT_HEADER = "x-retry-count"
REASON_HEADER = "x-dead-letter-reason"


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    correlation_id: str | None
    attempt: int


EventHandler = Callable[[Event, Delivery], Awaitable[None]]


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
        self.exchange = RabbitExchange(topology.exchange, type=ExchangeType.TOPIC, durable=True)
        self.queue = RabbitQueue(
            self.queue_name,
            durable=True,
            routing_key=self.routing_keys[0],
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dlq_name},
        )
        self.processed = 0

        async def on_message(msg: RabbitMessage) -> None:
            await self._on_message(msg)

        broker.subscriber(
            self.queue,
            self.exchange,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            channel=Channel(prefetch_count=prefetch),
            decoder=_undecoded,
            title=self.queue_name,
        )(on_message)

    async def declare(self) -> None:
        """Declare exchange, queues and every binding (idempotent); call after `broker.connect()`."""
        exchange = await self.broker.declare_exchange(self.exchange)
        await self.broker.declare_queue(RabbitQueue(self.dlq_name, durable=True))
        await self.broker.declare_queue(
            RabbitQueue(
                self.retry_queue_name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue_name},
            )
        )
        queue = await self.broker.declare_queue(self.queue)
        for key in self.routing_keys:
            await queue.bind(exchange, routing_key=key)

    async def _on_message(self, msg: RabbitMessage) -> None:
        raw = msg.raw_message
        token = correlation_id_var.set(raw.correlation_id)
        started = time.perf_counter()
        outcome = "processed"
        try:
            entry = self.handlers.get(raw.type or "")
            if entry is None:
                outcome = "dead_lettered"
                await self._dead_letter(raw, f"unknown_event_type: {raw.type!r}")
                return
            event_cls, handler = entry
            try:
                event = event_cls.model_validate_json(raw.body)
            except ValidationError as exc:
                outcome = "dead_lettered"
                await self._dead_letter(raw, describe_validation_error(exc))
                return
            attempt = int((raw.headers or {}).get(RETRY_COUNT_HEADER, 0))
            try:
                await handler(event, Delivery(raw.message_id or str(event.event_id), raw.correlation_id, attempt))
            except Exception as exc:  # a failing handler never stops the consumer
                if attempt < self.max_retries:
                    outcome = "retry_scheduled"
                    await self._schedule_retry(raw, attempt + 1)
                else:
                    outcome = "dead_lettered"
                    await self._dead_letter(raw, f"handler_failed: {type(exc).__name__} after {attempt + 1} attempts")
                log.warning("handler_failed", consumer=self.name, event_type=raw.type,
                            message_id=raw.message_id, attempt=attempt, error=type(exc).__name__)
        finally:
            await msg.ack()
            self.processed += 1
            log.info("message_handled", consumer=self.name, event_type=raw.type,
                     message_id=raw.message_id, outcome=outcome,
                     ms=round((time.perf_counter() - started) * 1000, 2))
            correlation_id_var.reset(token)

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
        headers = {**(raw.headers or {}), RETRY_COUNT_HEADER: attempt}
        await self._republish(raw, self.retry_queue_name, headers, timedelta(milliseconds=delay_ms))

    async def _dead_letter(self, raw, reason: str) -> None:
        headers = {
            **(raw.headers or {}),
            REASON_HEADER: reason,
            "x-original-routing-key": raw.routing_key or "",
            "x-consumer": self.name,
        }
        await self._republish(raw, self.dlq_name, headers)
        log.warning("message_dead_lettered", consumer=self.name, event_type=raw.type,
                    message_id=raw.message_id, reason=reason)
