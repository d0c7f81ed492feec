"""A service's consumers on FastStream's in-memory test broker: events reach the typed handlers
through the same subscribers, filters, decoding and middleware as in production, with no RabbitMQ
and (with a `FakeUnitOfWork`) no database.

    async with consuming_in_memory("requests", subscriptions(handlers), FakeUnitOfWork(repos)) as bus:
        await bus.deliver(event)

What only a real broker shows (bindings, the retry queue's delay, dead-lettering, redelivery,
confirms) is tested against RabbitMQ in the integration suites.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from faststream.rabbit import RabbitBroker, TestRabbitBroker
from pur_contracts import Event, Topology

from ..consumer import EventConsumer
from ..runtime import UowHandler, in_unit_of_work, service_consumers


class InMemoryBus:
    def __init__(self, broker: RabbitBroker, consumers: list[EventConsumer]) -> None:
        self.broker = broker
        self.consumers = consumers

    async def deliver(self, event: Event, *, message_id: str | None = None, body: bytes | None = None) -> None:
        """Publish `event` as the outbox relay does (its JSON, `type` = its name) to the queue bound to it."""
        consumer = next(c for c in self.consumers if event.event_name in c.routing_keys)
        await self.broker.publish(
            body if body is not None else event.model_dump_json().encode(),
            exchange=consumer.exchange, routing_key=consumer.queue.routing_key,
            message_type=event.event_name, message_id=message_id or str(event.event_id),
            content_type="application/json", persist=True,
        )

    @property
    def processed(self) -> int:
        return sum(c.processed for c in self.consumers)


@contextlib.asynccontextmanager
async def consuming_in_memory(
    service: str,
    handlers: Mapping[type[Event], UowHandler],
    unit_of_work: Callable[[], contextlib.AbstractAsyncContextManager],
) -> AsyncIterator[InMemoryBus]:
    broker = RabbitBroker("amqp://in-memory/", logger=None)
    consumers = service_consumers(
        broker, Topology("memory"), service,
        {event: in_unit_of_work(handler, unit_of_work) for event, handler in handlers.items()},
        max_retries=0)
    async with TestRabbitBroker(broker) as test_broker:
        yield InMemoryBus(test_broker, consumers)


@contextlib.asynccontextmanager
async def consuming_on(rabbitmq_url: str, topology: Topology, consumer: str, handlers,
                       **options) -> AsyncIterator[EventConsumer]:
    """One `EventConsumer` of `consumer` with `handlers` on a real RabbitMQ (the kit's consumer
    tests): its queues declared, consuming until the block ends."""
    broker = RabbitBroker(rabbitmq_url, logger=None)
    subscriber = EventConsumer(broker, topology, consumer, handlers, **options)
    await broker.connect()
    await subscriber.declare()
    await broker.start()
    try:
        yield subscriber
    finally:
        await broker.stop()
