"""The kit's unit of work against PostgreSQL: the inbox claim, the outbox rows and the relay
wake-up commit or roll back together with the state change."""
import json

import pytest
from pur_contracts import DirectorySchool, DirectorySchoolUpserted, RequestsReplayRequested
from pur_kit.uow import Database, outbox_insert, outbox_rows


def school(version: int) -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(district_id="d1", version=version,
                                   school=DirectorySchool(id="s1", district_id="d1", name="North"))


@pytest.fixture
async def database(db):
    wakes = []
    database = Database(db.url, 2, consumer="kit.main", repositories=lambda conn: {"conn": conn},
                        on_events_committed=lambda: wakes.append(1))
    await database.start()
    database.wakes = wakes
    yield database
    await database.close()


async def rows(database, sql):
    async with database.acquire() as conn:
        return await conn.fetch(sql)


async def test_a_committed_unit_of_work_keeps_its_claim_state_and_events_and_wakes_the_relay(database):
    event = school(1)
    async with database.unit_of_work() as uow:
        assert uow.repos["conn"] is uow.conn
        assert await uow.claim("m-1")
        await uow.conn.execute("INSERT INTO effect (key, count) VALUES ('k', 1)")
        uow.publish(event)
        await uow.commit()
    outbox = await rows(database, "SELECT event_id, event_name, routing_key, payload FROM outbox_message")
    assert [(r["event_id"], r["event_name"], r["routing_key"]) for r in outbox] == [
        (str(event.event_id), event.event_name, event.event_name)]
    assert DirectorySchoolUpserted.model_validate_json(outbox[0]["payload"]) == event
    assert len(await rows(database, "SELECT * FROM effect")) == 1
    assert database.wakes == [1]
    async with database.unit_of_work() as uow:
        assert not await uow.claim("m-1"), "a second delivery of m-1 is a duplicate"


async def test_leaving_without_commit_rolls_back_the_claim_the_state_and_the_events(database):
    with pytest.raises(RuntimeError):
        async with database.unit_of_work() as uow:
            assert await uow.claim("m-2")
            await uow.conn.execute("INSERT INTO effect (key, count) VALUES ('k', 1)")
            uow.publish(school(1))
            await uow.flush()  # written, then rolled back with the rest
            raise RuntimeError("the handler failed")
    assert await rows(database, "SELECT * FROM outbox_message") == []
    assert await rows(database, "SELECT * FROM effect") == []
    assert database.wakes == []
    async with database.unit_of_work() as uow:
        assert await uow.claim("m-2"), "the redelivery is processed again"


async def test_one_statement_writes_state_and_only_the_kept_rows_events(database):
    """`outbox_insert` inside a data-modifying CTE: events of rows the statement skipped are not written."""
    kept, skipped = RequestsReplayRequested(district_id="d1", requested_by="t"), school(2)
    columns = outbox_rows([kept, skipped], correlation_id="c-1")
    sql = f"""
    WITH e AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[])
                              AS t(event_id, event_name, payload, correlation_id, keep)),
         outbox AS ({outbox_insert("(SELECT * FROM e WHERE keep) AS kept")})
    SELECT count(*) FROM e"""
    async with database.acquire() as conn:
        await conn.fetchval(sql, *columns, [True, False])
    outbox = await rows(database, "SELECT event_id, correlation_id, payload FROM outbox_message")
    assert [(r["event_id"], r["correlation_id"]) for r in outbox] == [(str(kept.event_id), "c-1")]
    assert json.loads(outbox[0]["payload"])["requested_by"] == "t"


async def test_a_service_starts_while_its_database_is_down_and_says_so_on_use():
    database = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none", 1, consumer="kit.main")
    await database.start()  # no connection yet
    with pytest.raises(OSError):
        async with database.unit_of_work():
            pass
    await database.close()
