"""Small async helpers for tests against the real broker."""
from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import aio_pika
import asyncpg


# Ports handed out by free_port() in this process: one handed out is not bound yet for a while
# (a service process starting), so a second call must not pick it again.
_HANDED_OUT: set[int] = set()
LISTEN_PORTS_FROM = 10_000


def _ephemeral_ports_start() -> int:
    """Where the kernel's range for outgoing connections' local ports starts (Linux: 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, for a server a test starts later.

    Below the kernel's ephemeral range: a port from `bind(0)` lies inside it, where any outgoing
    connection (to the broker, the database) may take it before the test's server binds it
    (seen: a replica of the rolling-restart test exiting with "address already in use")."""
    end = _ephemeral_ports_start()
    for _ in range(200):
        port = random.randrange(LISTEN_PORTS_FROM, end) if end > LISTEN_PORTS_FROM + 1000 else 0
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port found on 127.0.0.1")


async def drain_queue(rabbitmq_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message in `queue` now, taken and acked (to look at dead letters, say)."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        messages = []
        while (message := await q.get(fail=False)) is not None:
            await message.ack()
            messages.append(message)
        return messages


async def wait_until(predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0,
                     interval: float = 0.05, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


class EventSpy:
    """An exclusive, auto-deleted queue bound to the events exchange that records what arrives."""

    def __init__(self, rabbitmq_url: str, exchange: str, routing_keys: Iterable[str] = ("#",)) -> None:
        self.rabbitmq_url = rabbitmq_url
        self.exchange_name = exchange
        self.routing_keys = list(routing_keys)
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._connection = None

    async def __aenter__(self) -> EventSpy:
        self._connection = await aio_pika.connect(self.rabbitmq_url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"spy.{uuid.uuid4().hex}", exclusive=True, auto_delete=True)
        for key in self.routing_keys:
            await queue.bind(exchange, key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            self.messages.append(message)

        await queue.consume(on_message)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._connection.close()

    def of_type(self, event_name: str) -> list[dict]:
        return [json.loads(m.body) for m in self.messages if m.type == event_name]

    async def wait_for(self, count: int, event_name: str | None = None, timeout: float = 10.0) -> list:
        def enough() -> bool:
            return len(self.of_type(event_name) if event_name else self.messages) >= count

        await wait_until(enough, timeout, message=f"{count} x {event_name or 'any event'}")
        return self.of_type(event_name) if event_name else self.messages


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of a real dependency, for outage tests.

    `cut()` drops every open connection and refuses new ones (as a crashed or partitioned
    server would); `restore()` accepts again on the same port. Point a service's URL at
    `proxy.port` instead of the dependency's.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        await self.restore()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.cut()

    async def restore(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, upstream_writer}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.transport.abort()
                self._writers.discard(writer)

        await asyncio.gather(pump(client_reader, upstream_writer), pump(upstream_reader, client_writer))


@contextlib.asynccontextmanager
async def connections_refused(database_url: str, *, keep_pids: Iterable[int] = ()):
    """The database refuses new connections and loses its open ones (`ALLOW_CONNECTIONS false`), as
    during an operator's maintenance, until the block exits. `keep_pids` survive (a test's own)."""
    from sqlalchemy.engine import make_url

    from ..db import asyncpg_dsn, with_database

    name = make_url(database_url).database
    admin = await asyncpg.connect(asyncpg_dsn(with_database(database_url, "postgres")))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> ALL($2::int[])", name, list(keep_pids))
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
