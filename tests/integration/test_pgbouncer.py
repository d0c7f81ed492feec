"""The whole system behind a real PgBouncer 1.18 in transaction pooling mode.

Every service's DATABASE_URL goes through PgBouncer (Debian's package, started here on a free port,
`pool_mode = transaction`, twenty server connections per database). sis_sync, settings and digest
also get a DATABASE_DIRECT_URL straight to PostgreSQL; requests runs without one, the fallback
(it migrates through PgBouncer, its relay polls; it has no NOTIFY trigger anyway and wakes its relay
in process). The product story of test_end_to_end.py runs unchanged on top. Then: the three relays
with a direct URL are woken by NOTIFY (the poll is set to ten minutes, so nothing else could
deliver in time), and PgBouncer really carried each database's transactions (SHOW STATS).
"""
from __future__ import annotations

import uuid

import asyncpg
import pytest
import pytest_asyncio
from pur_kit.db import asyncpg_dsn
from pur_kit.testing import EventSpy
from pur_kit.testing.pgbouncer import require_pgbouncer, running_pgbouncer

from .test_end_to_end import test_the_whole_product_story as the_product_story

SERVICE_OF_LABEL = {"sis": "sis_sync", "settings": "settings", "requests": "requests", "digest": "digest"}
WITHOUT_DIRECT_URL = "requests"
POLL_SECONDS = 600  # longer than the test: a relay that is not woken by NOTIFY never delivers in time
PROBE = "pgbouncer.probe"


@pytest.fixture(scope="module")
def pgbouncer(postgres_url):
    require_pgbouncer()
    with running_pgbouncer(postgres_url, pool_mode="transaction", pool_size=20) as bouncer:
        yield bouncer


@pytest.fixture
def direct_urls() -> dict[str, str]:
    return {}


@pytest_asyncio.fixture
async def database_factory(database_factory, pgbouncer, direct_urls, monkeypatch):
    """The `system` fixture (conftest.py) as it is, with each service's database reached through
    PgBouncer: its DATABASE_URL is PgBouncer's, and the variables its process inherits say
    `DATABASE_POOLER=pgbouncer-transaction` and give PostgreSQL itself as DATABASE_DIRECT_URL."""
    async def create(label: str = "t") -> str:
        direct = await database_factory(label)
        service = SERVICE_OF_LABEL[label]
        direct_urls[service] = direct
        prefix = service.upper() + "_"
        monkeypatch.setenv(f"{prefix}DATABASE_POOLER", "pgbouncer-transaction")
        if service != WITHOUT_DIRECT_URL:
            monkeypatch.setenv(f"{prefix}DATABASE_DIRECT_URL", direct)
        monkeypatch.setenv(f"{prefix}OUTBOX_POLL_SECONDS", str(POLL_SECONDS))
        return pgbouncer.url_for(direct)

    return create


def database_name(url: str) -> str:
    return asyncpg_dsn(url).rsplit("/", 1)[1]


async def test_every_service_behind_pgbouncer_in_transaction_mode(system, pgbouncer, direct_urls, tmp_path):
    assert set(direct_urls) == set(SERVICE_OF_LABEL.values())
    for spec in system.stack.specs:
        assert f":{pgbouncer.port}/" in spec.database_url  # the services' own URLs are PgBouncer's

    # the product story: roster import, grants, the feature enabled, submissions, scoped lists,
    # Mark as Done / Restore, the digest in the mailbox, re-imports, self-edits
    await the_product_story(system, tmp_path)

    # Wake-ups: rows committed by "another process" (through PgBouncer, as a CLI or a replica would)
    # reach the broker only if the relay's LISTEN on its direct connection hears the trigger's
    # NOTIFY. (The requests service has no trigger: it wakes its relay in process, exercised above.)
    probes: dict[str, list[str]] = {}
    async with EventSpy(system.rabbitmq_url, system.topology.exchange, [PROBE]) as spy:
        for _round in range(3):
            for service in ("sis_sync", "settings", "digest"):
                event_id = str(uuid.uuid4())
                probes.setdefault(service, []).append(event_id)
                conn = await asyncpg.connect(asyncpg_dsn(pgbouncer.url_for(direct_urls[service])),
                                             statement_cache_size=0)
                try:
                    await conn.execute(
                        "INSERT INTO outbox_message (event_id, event_name, routing_key, payload) "
                        "VALUES ($1, $2, $2, '{}')", event_id, PROBE)
                finally:
                    await conn.close()
        await spy.wait_for(9, timeout=60)  # a tenth of the poll interval
    by_service = {service: [m.message_id for m in spy.messages if m.app_id == service] for service in probes}
    assert by_service == probes

    # PgBouncer carried every database's transactions
    stats = {row["database"]: row for row in pgbouncer.show("STATS")}
    for service, url in direct_urls.items():
        row = stats[database_name(url)]
        assert int(row["total_xact_count"]) > 0, (service, row)
    pools = {row["database"] for row in pgbouncer.show("POOLS")}
    assert {database_name(url) for url in direct_urls.values()} <= pools

    # nothing was refused or retried along the way; only the service without a direct URL polls
    for name, lines in system.stack.output.items():
        text = "".join(lines)
        for sign in ("outbox_relay_error", "prepared statement", "InvalidSQLStatementName"):
            assert sign not in text, (name, sign)
        assert ("outbox_relay_polling" in text) == (name == WITHOUT_DIRECT_URL), name


def test_sis_sync_refuses_to_start_behind_a_pooler_without_a_direct_url(monkeypatch):
    """Its import runs hold a session (a session advisory lock, temporary tables across
    transactions) that a transaction pooler cannot keep: there is no degraded mode to offer."""
    from sis_sync_service.bootstrap import bootstrap
    from sis_sync_service.config import Settings

    monkeypatch.setenv("SIS_SYNC_DATABASE_POOLER", "pgbouncer-transaction")
    with pytest.raises(ValueError, match="SIS_SYNC_DATABASE_DIRECT_URL"):
        bootstrap(Settings())
    monkeypatch.setenv("SIS_SYNC_DATABASE_DIRECT_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/pur_sis_sync")
    runtime = bootstrap(Settings())
    assert runtime.db.pooled and runtime.parts.pipeline.db.pooled is False
