"""The kit behind a real PgBouncer 1.18 in transaction pooling mode (`DATABASE_POOLER`).

PgBouncer is the Debian package's binary, started per test module on a free port; without it these
tests are skipped (a failure with REQUIRE_SERVICES=1). They run against the local PostgreSQL (trust)
and, under `make test-containers`, against a container's, which asks for a password.
"""
from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest
import structlog
from pur_kit.config import ServiceSettings
from pur_kit.db import asyncpg_dsn, with_database
from pur_kit.outbox import OutboxRelay
from pur_kit.testing import EventSpy
from pur_kit.testing.pgbouncer import require_pgbouncer, running_pgbouncer
from pur_kit.uow import Database

from .test_outbox import running, school_event


@pytest.fixture(scope="module")
def pgbouncer(postgres_url):
    require_pgbouncer()
    # Two server connections for many clients: consecutive transactions of one client land on
    # different server connections, as they do under load in production.
    with running_pgbouncer(postgres_url, pool_size=2) as bouncer:
        yield bouncer


@pytest.fixture(autouse=True)
def pgbouncer_log_on_failure(request):
    """What PgBouncer logged during a test that failed, in its report ("Captured stdout teardown"):
    a refused or stalled server login shows there, while the client only sees a timeout."""
    if "pgbouncer" not in request.fixturenames:
        yield
        return
    bouncer = request.getfixturevalue("pgbouncer")
    start, failed = bouncer.log_size(), request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(f"--- pgbouncer's log during the test ---\n{bouncer.log_text(start)}")


def test_a_login_postgresql_refuses_stops_pgbouncer_at_start_with_its_log(postgres_url):
    """Refused server logins do not reach the tests as connect timeouts (PgBouncer holds a failing
    pool's next clients for `server_login_retry`): the helper logs in once before it yields."""
    require_pgbouncer()
    with pytest.raises(RuntimeError, match="could not log in to PostgreSQL") as refused:
        with running_pgbouncer(with_database(postgres_url, "pur_test_absent")):
            pass
    assert 'database "pur_test_absent" does not exist' in str(refused.value)
    assert "--- pgbouncer's log ---" in str(refused.value)
    assert "server login failed" in str(refused.value)  # the log itself


def test_settings_name_the_pooler_and_the_direct_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app@bouncer:6432/app")
    plain = ServiceSettings()
    assert not plain.behind_pooler and plain.direct_url == plain.migration_url == plain.database_url

    monkeypatch.setenv("DATABASE_POOLER", "pgbouncer-transaction")
    alone = ServiceSettings()
    assert alone.behind_pooler
    assert alone.direct_url is None  # nothing to LISTEN on: the relay polls
    assert alone.migration_url == alone.database_url  # one transaction: works through the pooler

    monkeypatch.setenv("DATABASE_DIRECT_URL", "postgresql+asyncpg://app@db:5432/app")
    both = ServiceSettings()
    assert both.direct_url == both.migration_url == "postgresql+asyncpg://app@db:5432/app"

    monkeypatch.setenv("DATABASE_POOLER", "pgbouncer-session")
    with pytest.raises(ValueError, match="database_pooler"):
        ServiceSettings()


async def _hammer(database: Database, clients: int = 4, rounds: int = 40) -> tuple[int, list[BaseException]]:
    """`clients` tasks running units of work with parameterized statements; (rows written, errors)."""
    errors: list[BaseException] = []
    written = 0

    async def client(n: int) -> None:
        nonlocal written
        for i in range(rounds):
            try:
                async with database.unit_of_work() as uow:
                    await uow.conn.execute(
                        "INSERT INTO effect (key, count) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
                        "SET count = effect.count + EXCLUDED.count", f"k{n}", 1)
                    assert await uow.conn.fetchval("SELECT count FROM effect WHERE key = $1", f"k{n}") >= 1
                    await uow.commit()
                written += 1
                assert await database_read(database, f"k{n}") >= 1
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                errors.append(exc)
            await asyncio.sleep(0)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return written, errors


async def database_read(database: Database, key: str) -> int:
    async with database.acquire() as conn:  # a read outside a transaction: its own pooler transaction
        return await conn.fetchval("SELECT count FROM effect WHERE key = $1", key)


async def test_units_of_work_through_pgbouncer_need_the_pooled_pool(db, pgbouncer):
    through = pgbouncer.url_for(db.url)

    pooled = Database(through, 4, consumer="digest.main", reset_on_release=False, pooled=True)
    await pooled.start()
    try:
        written, errors = await _hammer(pooled)
        await pooled.ping()
    finally:
        await pooled.close()
    assert errors == []
    assert written == 4 * 40
    async with db.database.acquire() as conn:
        assert await conn.fetchval("SELECT sum(count) FROM effect") == 4 * 40

    # What the setting prevents: asyncpg's named, cached statements meet other server connections.
    plain = Database(through, 4, consumer="digest.main", reset_on_release=False)
    await plain.start()
    try:
        _, errors = await _hammer(plain)
    finally:
        await plain.close()
    assert any(isinstance(exc, asyncpg.InvalidSQLStatementNameError | asyncpg.DuplicatePreparedStatementError)
               for exc in errors), errors


@contextlib.asynccontextmanager
async def _another_process(url: str):
    """A `Database` of "another process": its commits do not wake the relay under test in process."""
    database = Database(url, 1, consumer="other.main", reset_on_release=False, pooled=True)
    await database.start()
    try:
        yield database
    finally:
        await database.close()


async def _commit(database: Database, event) -> None:
    async with database.unit_of_work() as uow:
        uow.publish(event)
        await uow.commit()


async def test_the_relay_behind_pgbouncer_is_woken_by_notify_over_the_direct_url(db, pgbouncer, rabbitmq_url, topology):
    through = pgbouncer.url_for(db.url)
    # A poll far longer than the test's waits: only a NOTIFY can wake it in time.
    relay = OutboxRelay(through, rabbitmq_url, topology.exchange, poll_seconds=600, listen=db.url, pooled=True)
    events = [school_event(version) for version in range(1, 4)]
    async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(relay), _another_process(through) as other:
        for n, event in enumerate(events, 1):
            await _commit(other, event)  # through the pooler: the trigger's NOTIFY fires at its commit
            await spy.wait_for(n, timeout=30)
    assert [m.message_id for m in spy.messages] == [str(e.event_id) for e in events]
    assert relay.notified >= len(events)
    assert await db.outbox_count() == 0


async def test_without_a_direct_url_the_relay_polls_and_says_so(db, pgbouncer, rabbitmq_url, topology):
    through = pgbouncer.url_for(db.url)
    relay = OutboxRelay(through, rabbitmq_url, topology.exchange, poll_seconds=0.2, listen=False, pooled=True)
    event = school_event()
    with structlog.testing.capture_logs() as logs:
        async with EventSpy(rabbitmq_url, topology.exchange) as spy, running(relay), \
                _another_process(through) as other:
            await _commit(other, event)
            await spy.wait_for(1, timeout=30)
    assert [m.message_id for m in spy.messages] == [str(event.event_id)]
    assert relay.notified == 0
    (line,) = [entry for entry in logs if entry["event"] == "outbox_relay_polling"]
    assert line["poll_seconds"] == 0.2 and line["log_level"] == "warning"


async def test_the_pooled_runtime_pool_never_resets_sessions(db, pgbouncer):
    """asyncpg's reset (UNLISTEN, unlock, RESET ALL) would run on whichever server connection
    PgBouncer picks: a pooled Database skips it even when asked for it."""
    database = Database(pgbouncer.url_for(db.url), 2, consumer="digest.main", reset_on_release=True, pooled=True)
    await database.start()
    try:
        async with database.acquire() as conn:  # connected, its codecs introspected
            await conn.execute("SELECT 1")
        before = _query_count(pgbouncer, db.url)
        for _ in range(5):
            async with database.acquire() as conn:
                await conn.execute("SELECT 1")
        ran = _query_count(pgbouncer, db.url) - before
    finally:
        await database.close()
    assert ran == 5  # five SELECTs, no reset query after each


def _query_count(pgbouncer, url: str) -> int:
    name = asyncpg_dsn(url).rsplit("/", 1)[1]
    return sum(int(row["total_query_count"]) for row in pgbouncer.show("STATS") if row["database"] == name)
