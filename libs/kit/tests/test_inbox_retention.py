"""Inbox retention against PostgreSQL: what a pass deletes and keeps, its bounded batches, two
pruners at once, the loop that survives a database outage, and what pruning costs the inbox (a
copy of a message older than the window is claimed again)."""
import asyncio
import uuid
from datetime import timedelta

import pytest
import structlog
from pur_kit.config import ServiceSettings
from pur_kit.inbox_retention import (
    CREATE_INDEX,
    INDEX,
    PRUNE_FAILURES,
    ROWS_PRUNED,
    InboxPruner,
    prune_forever,
    prune_once,
)
from pur_kit.runtime import ServiceRuntime
from pur_kit.testing import free_port, wait_until
from pur_kit.testing.pgbouncer import require_pgbouncer, running_pgbouncer
from pur_kit.uow import Database
from sqlalchemy.engine import make_url


@pytest.fixture
async def database(db):
    """The test database's inbox with the retention index, as the services' migrations make it."""
    async with db.database.acquire() as conn:
        await conn.execute(CREATE_INDEX)
    return db.database


async def add_rows(database, consumer: str, ids, age: timedelta) -> None:
    async with database.acquire() as conn:
        await conn.execute(
            "INSERT INTO inbox_message (consumer, message_id, processed_at) "
            "SELECT $1, m, now() - $3::interval FROM unnest($2::text[]) AS m", consumer, list(ids), age)


async def kept(database) -> set[tuple[str, str]]:
    async with database.acquire() as conn:
        return {(r["consumer"], r["message_id"]) for r in await conn.fetch("SELECT * FROM inbox_message")}


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


async def test_a_pass_deletes_rows_older_than_the_retention_and_keeps_the_others(database):
    await add_rows(database, "digest.main", ids("old", 5), timedelta(days=31))
    await add_rows(database, "digest.main", ids("young", 3), timedelta(days=29, hours=23))
    await add_rows(database, "requests.main", ids("old", 2), timedelta(days=400))
    await add_rows(database, "requests.main", ids("new", 2), timedelta(0))
    before = ROWS_PRUNED._value.get()

    result = await InboxPruner(database, 30).prune()

    assert result.rows == 7
    assert await kept(database) == {("digest.main", m) for m in ids("young", 3)} | {
        ("requests.main", m) for m in ids("new", 2)}
    assert ROWS_PRUNED._value.get() - before == 7
    assert (await InboxPruner(database, 30).prune()).rows == 0  # nothing left to do


async def test_a_pass_deletes_in_transactions_of_at_most_batch_size_rows(database):
    """25 old rows, 10 at most per transaction: three transactions (10, 10, 5)."""
    await add_rows(database, "digest.main", ids("old", 25), timedelta(days=40))
    await add_rows(database, "digest.main", ids("new", 4), timedelta(days=1))

    result = await InboxPruner(database, 30, batch_size=10).prune()

    assert (result.rows, result.batches, result.largest_batch) == (25, 3, 10)
    assert await kept(database) == {("digest.main", m) for m in ids("new", 4)}


async def test_two_pruners_at_once_delete_every_old_row_once_and_never_fail(db, database):
    """Two replicas' passes over the same rows: SKIP LOCKED splits them, neither waits or fails."""
    await add_rows(database, "digest.main", ids("old", 3000), timedelta(days=31))
    await add_rows(database, "digest.main", ids("new", 10), timedelta(0))
    other = Database(db.url, 2, consumer="digest.main")
    await other.start()
    try:
        first, second = await asyncio.gather(InboxPruner(database, 30, batch_size=20).prune(),
                                             InboxPruner(other, 30, batch_size=20).prune())
    finally:
        await other.close()

    assert first.rows + second.rows == 3000
    assert await kept(database) == {("digest.main", m) for m in ids("new", 10)}


async def test_a_pass_skips_the_rows_another_pruner_holds_rather_than_wait_for_them(database):
    """Another replica's batch in progress: its rows are left to it, and this pass goes on."""
    await add_rows(database, "digest.main", ids("old", 30), timedelta(days=31))
    async with database.acquire() as other_pruner, other_pruner.transaction():
        await other_pruner.execute("SELECT 1 FROM inbox_message WHERE message_id = ANY($1::text[]) FOR UPDATE",
                                   ids("old", 5))
        result = await asyncio.wait_for(InboxPruner(database, 30).prune(), 10)
    assert result.rows == 25
    assert await kept(database) == {("digest.main", m) for m in ids("old", 5)}


async def test_two_pruners_behind_a_transaction_pooling_pgbouncer_prune_and_summarize(db, database, postgres_url):
    """Through PgBouncer in transaction mode (two server connections for both), with the pooled
    pool: no statement or setting outlives its transaction, so nothing fails."""
    require_pgbouncer()
    await add_rows(database, "digest.main", ids("old", 2000), timedelta(days=31))
    with running_pgbouncer(postgres_url, pool_size=2) as bouncer:
        pools = [Database(bouncer.url_for(db.url), 2, consumer="digest.main", reset_on_release=False, pooled=True)
                 for _ in range(2)]
        for pool in pools:
            await pool.start()
        try:
            pruners = [InboxPruner(pool, 30, batch_size=50) for pool in pools]
            first = await asyncio.gather(*(pruner.prune() for pruner in pruners))
            await add_rows(database, "digest.main", ids("older", 10), timedelta(days=40))
            second = await asyncio.gather(*(pruner.prune() for pruner in pruners))
        finally:
            for pool in pools:
                await pool.close()
    assert sum(r.rows for r in first) == 2000 and sum(r.rows for r in second) == 10
    assert sum(r.summarized for r in second) >= 1
    assert await kept(database) == set()


async def test_a_message_whose_inbox_row_was_pruned_is_claimed_and_handled_again(database):
    """The accepted consequence of retention: a copy of a message older than the window is no
    longer recognized (handlers are version-gated, so a directory, settings or request event
    changes nothing the second time)."""
    async with database.unit_of_work() as uow:
        assert await uow.claim("m-1")
        await uow.commit()
    async with database.acquire() as conn:
        await conn.execute("UPDATE inbox_message SET processed_at = now() - interval '31 days'")
    async with database.unit_of_work() as uow:
        assert not await uow.claim("m-1")  # remembered until it is pruned

    await InboxPruner(database, 30).prune()

    async with database.unit_of_work() as uow:
        assert await uow.claim("m-1")
        await uow.commit()


async def test_the_ranges_a_pass_emptied_are_summarized_again_at_the_next_pass(database):
    """A BRIN range's summary only widens: once new rows fill the pages the pruned rows left, it
    would match every cutoff. The pruner summarizes what it emptied again, a pass later."""
    await add_rows(database, "digest.main", ids("old", 100), timedelta(days=31))
    pruner = InboxPruner(database, 30)

    first = await pruner.prune()
    second = await pruner.prune()

    assert (first.rows, first.ranges, first.summarized) == (100, 1, 0)
    assert (second.rows, second.summarized) == (0, 1)
    assert pruner.emptied == set()
    assert (await pruner.prune()).summarized == 0


async def test_a_role_that_does_not_own_the_table_still_prunes_without_summarizing(db, database):
    """Only the table's owner may summarize a BRIN range: a service whose role may delete but does
    not own the inbox keeps pruning (the index then only widens over time)."""
    role, password = f"pruner_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    async with database.acquire() as conn:
        # A password too: the containers' PostgreSQL asks for one (the local one trusts).
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await conn.execute(f"GRANT SELECT, UPDATE, DELETE ON inbox_message TO {role}")
    url = make_url(db.url).set(username=role, password=password).render_as_string(hide_password=False)
    not_owner = Database(url, 2, consumer="digest.main")
    await not_owner.start()
    try:
        await add_rows(database, "digest.main", ids("old", 10), timedelta(days=31))
        pruner = InboxPruner(not_owner, 30)
        assert (await pruner.prune()).rows == 10
        await add_rows(database, "digest.main", ids("older", 10), timedelta(days=32))
        with structlog.testing.capture_logs() as logs:
            second = await pruner.prune()
        assert (second.rows, second.summarized) == (10, 0)
        assert [e["event"] for e in logs] == ["inbox_summarize_not_permitted"]
    finally:
        await not_owner.close()
        async with database.acquire() as conn:
            await conn.execute(f"REVOKE ALL ON inbox_message FROM {role}")
            await conn.execute(f"DROP ROLE {role}")


async def test_the_retention_index_is_a_brin_index_on_processed_at(database):
    async with database.acquire() as conn:
        definition = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", INDEX)
    assert "USING brin (processed_at)" in definition


async def test_a_pass_logs_one_line_of_counts_and_no_message_ids(database):
    await add_rows(database, "digest.main", ["message-id-never-logged"], timedelta(days=31))
    with structlog.testing.capture_logs() as logs:
        await prune_once(InboxPruner(database, 30))
    [line] = [entry for entry in logs if entry["event"] == "inbox_pruned"]
    assert line["rows"] == 1 and line["retention_days"] == 30 and line["seconds"] >= 0
    assert "message-id-never-logged" not in repr(logs)


async def test_the_loop_outlives_a_database_that_is_down_and_prunes_once_it_answers(db, database):
    """A failed pass is logged and counted, and the next interval tries again: no crash."""
    down = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere", 2, consumer="x")
    await down.start()
    failures = PRUNE_FAILURES._value.get()
    with structlog.testing.capture_logs() as logs:
        loop = asyncio.create_task(prune_forever(InboxPruner(down, 30), 0.05, first_delay_seconds=0))
        await wait_until(lambda: PRUNE_FAILURES._value.get() - failures >= 2, message="two failed passes")
    assert not loop.done()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    await down.close()
    failed = [entry for entry in logs if entry["event"] == "inbox_prune_failed"]
    assert len(failed) >= 2 and all(entry["error"] for entry in failed)

    await add_rows(database, "digest.main", ids("old", 3), timedelta(days=31))
    loop = asyncio.create_task(prune_forever(InboxPruner(database, 30), 0.05, first_delay_seconds=0))
    try:
        await wait_until(lambda: _inbox_empty(database), message="old rows pruned by the loop")
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def _inbox_empty(database) -> bool:
    return not await kept(database)


async def test_every_service_runtime_prunes_its_inbox_and_stops_pruning_with_it(db, database, rabbitmq_url,
                                                                                  topology):
    await add_rows(database, "example.main", ids("old", 3), timedelta(days=8))
    await add_rows(database, "example.main", ids("new", 2), timedelta(days=6))
    settings = ServiceSettings(rabbitmq_url=rabbitmq_url, database_url=db.url, events_namespace=topology.namespace,
                               inbox_retention_days=7, inbox_prune_interval_seconds=0.05)
    runtime = ServiceRuntime(settings, "example")
    await runtime.start()
    try:
        await wait_until(lambda: _only(database, {("example.main", m) for m in ids("new", 2)}),
                         message="the old rows pruned by the runtime")
    finally:
        await runtime.stop()
    assert not runtime._tasks  # the pruning loop was cancelled with the rest
    await add_rows(database, "example.main", ids("later", 1), timedelta(days=8))
    await asyncio.sleep(0.3)
    assert ("example.main", "later-0") in await kept(database)


async def _only(database, rows) -> bool:
    return await kept(database) == rows


def test_the_retention_is_a_setting_of_at_least_one_day(monkeypatch):
    monkeypatch.setenv("INBOX_RETENTION_DAYS", "45")
    monkeypatch.setenv("INBOX_PRUNE_INTERVAL_SECONDS", "600")
    settings = ServiceSettings()
    assert (settings.inbox_retention_days, settings.inbox_prune_interval_seconds) == (45, 600)
    assert ServiceSettings.model_fields["inbox_retention_days"].default == 30
    monkeypatch.setenv("INBOX_RETENTION_DAYS", "0")
    with pytest.raises(ValueError):
        ServiceSettings()
