"""Publishing a batch of outbox rows with pipelined publisher confirms, on aiormq directly.

Every consumer of the project runs on FastStream; the outbox relay's publishing alone stays one
layer lower, because FastStream's publishers cannot keep its pace. Measured back to back with
`bench/bench_relay_publish.py` (2026-11-30, faststream 0.7.8, 7 interleaved rounds of 2,000
persistent 600-byte messages, a batch all in flight and every confirm awaited; medians, msg/s):

    batch   this module   FastStream publisher   broker.publish   publisher + aio_pika.Message
    100     5,075         3,559 (0.70x)          3,489 (0.69x)    4,108 (0.81x)
    500     8,592         3,253 (0.38x)          2,258 (0.26x)    3,728 (0.43x)
    (a second run: 0.63-0.66x at 100, 0.53-0.63x at 500)

The bar was 0.9x. FastStream's publish ends in aio-pika's `Exchange.publish`, which waits for
each message's frames to be written (`wait=True`) while holding the channel lock, so a gathered
batch leaves one message per event-loop turn (15,116 loop turns for 5,000 messages against 157
here), plus a command object, a middleware stack and a timestamp per message.

Here a batch is queued in one turn: aiormq's frame queue is enlarged to hold a whole batch
(`_Connection`), publishes do not wait for the socket to drain, and each awaits only its confirm.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiormq


class _Connection(aiormq.Connection):
    """An AMQP connection whose write queue holds a whole batch.

    aiormq queues each publish's frames under a channel lock, in a queue of 10 by default. When a
    batch outgrew it, the lock holder waited for the connection's writer and every other publish
    queued behind the lock, so a batch advanced one message per event-loop turn: a relay sharing
    its loop with a busy HTTP server published 300 events/s at 650 submissions/s and fell ever
    further behind (bench/bench_requests.py).
    """

    FRAME_BUFFER_SIZE = 4096


class ConfirmedPublisher:
    """One connection and one confirm channel to a topic exchange (declared durable on connect)."""

    def __init__(self, url: str, exchange: str, *, app_id: str) -> None:
        self._connection = _Connection(url)
        self._exchange = exchange
        self._app_id = app_id
        self._channel: aiormq.abc.AbstractChannel | None = None

    async def connect(self) -> None:
        await self._connection.connect()
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.exchange_declare(exchange=self._exchange, exchange_type="topic", durable=True)

    @property
    def is_closed(self) -> bool:
        return self._connection.is_closed

    async def publish(self, rows: Sequence[Any]) -> None:
        """Publish outbox rows (`event_id`, `event_name`, `routing_key`, `payload`, `correlation_id`),
        persistent, all in flight at once; returns when every confirm has come back."""
        channel = self._channel
        if channel is None:
            raise ConnectionError("publisher not connected")
        await asyncio.gather(*(
            channel.basic_publish(
                row["payload"].encode(),
                exchange=self._exchange,
                routing_key=row["routing_key"],
                properties=aiormq.spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=2,  # persistent
                    message_id=row["event_id"],
                    message_type=row["event_name"],
                    correlation_id=row["correlation_id"],
                    app_id=self._app_id,
                ),
                mandatory=False,
                wait=False,  # hold the channel lock only while queueing the frames
            )
            for row in rows
        ))

    async def close(self) -> None:
        await self._connection.close()
