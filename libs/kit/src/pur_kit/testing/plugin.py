"""pytest plugin (registered through the `pytest11` entry point of pur-kit).

RabbitMQ and PostgreSQL come from `RABBITMQ_URL` / `DATABASE_URL` when set, and are started with
testcontainers otherwise. Without either, tests that need them are skipped with the reason, or
fail when `REQUIRE_SERVICES=1` (CI sets it). Isolation: every test database is created fresh and
dropped at the end of the session; every test gets its own event namespace (exchange and queue
prefix) whose exchange and queues are deleted after the test. Services started inside the test
process leave its garbage collector alone (`GC_GEN0_THRESHOLD=0`): freezing the heap at every app
start would keep the test session's cyclic garbage for good.
"""
from __future__ import annotations

import os
import uuid

import aio_pika
import pytest
import pytest_asyncio
from pur_contracts import Topology

from ..db import with_database
from ..migrations import drop_database, ensure_database

os.environ.setdefault("GC_GEN0_THRESHOLD", "0")


def _unavailable(what: str, exc: BaseException) -> None:
    msg = f"{what}: set {'RABBITMQ_URL' if 'Rabbit' in what else 'DATABASE_URL'} or provide Docker ({type(exc).__name__}: {exc})"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def rabbitmq_url():
    if url := os.environ.get("RABBITMQ_URL"):
        yield url
        return
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management")
        container.start()
    except Exception as exc:
        _unavailable("RabbitMQ", exc)
    params = container.get_connection_params()
    yield f"amqp://guest:guest@{params.host}:{params.port}/"
    container.stop()


@pytest.fixture(scope="session")
def postgres_url():
    """An admin URL (asyncpg driver) to a server where tests may create databases."""
    if url := os.environ.get("DATABASE_URL"):
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1) if "+asyncpg" not in url else url
        return
    try:
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver="asyncpg")
        container.start()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    yield container.get_connection_url()
    container.stop()


@pytest_asyncio.fixture(scope="session")
async def database_factory(postgres_url):
    """Call it to get the URL of a new, empty database; all are dropped at the end of the session."""
    created: list[str] = []

    async def create(label: str = "t") -> str:
        url = with_database(postgres_url, f"pur_test_{label}_{uuid.uuid4().hex[:10]}")
        await ensure_database(url)
        created.append(url)
        return url

    yield create
    for url in created:
        await drop_database(url)


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def topology(namespace, rabbitmq_url):
    """The test's own exchange and queue names; everything under them is deleted afterwards."""
    topo = Topology(namespace)
    yield topo
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        for name in topo.all_queues():
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except Exception:
                pass  # never declared by this test
        channel = await connection.channel()
        try:
            await channel.exchange_delete(topo.exchange)
        except Exception:
            pass
    finally:
        await connection.close()
