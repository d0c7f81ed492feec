from types import SimpleNamespace

import pytest_asyncio
from pur_kit.db import make_engine, make_metadata
from pur_kit.messaging_tables import CREATE_NOTIFY_TRIGGER, inbox_table, outbox_table
from pur_kit.uow import Database
from sqlalchemy import Column, Integer, String, Table, text

metadata = make_metadata()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)
EFFECT = Table("effect", metadata, Column("key", String, primary_key=True), Column("count", Integer, nullable=False))
PROJECTION = Table(
    "projection", metadata,
    Column("id", String, primary_key=True), Column("version", Integer, nullable=False), Column("value", String),
)


@pytest_asyncio.fixture
async def db(database_factory):
    """A fresh database with an outbox, an inbox and two tables for handler effects."""
    url = await database_factory("kit")
    engine = make_engine(url, pool_size=4)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for statement in CREATE_NOTIFY_TRIGGER:
            await conn.exec_driver_sql(statement)

    async def outbox_count() -> int:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM outbox_message"))).scalar_one()

    async def outbox_empty() -> bool:
        return await outbox_count() == 0

    database = Database(url, 4, consumer="digest.main")
    await database.start()
    yield SimpleNamespace(
        url=url, engine=engine, outbox=OUTBOX, inbox=INBOX,
        effect=EFFECT, projection=PROJECTION, outbox_count=outbox_count, outbox_empty=outbox_empty,
        database=database,
    )
    await database.close()
    await engine.dispose()
