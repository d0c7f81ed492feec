"""Alembic plumbing shared by every service's migration history.

A service's ``migrations/env.py`` is just ``run_alembic_env(metadata)``; ``upgrade`` runs the
history programmatically (tests, `make run`, the container entrypoint).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from .db import asyncpg_dsn, with_database
from .inbox_retention import CREATE_INDEX as CREATE_INBOX_RETENTION_INDEX
from .inbox_retention import DROP_INDEX as DROP_INBOX_RETENTION_INDEX
from .messaging_tables import CREATE_NOTIFY_TRIGGER, DROP_NOTIFY_TRIGGER, inbox_table, outbox_table


def create_messaging_tables(op, *, outbox: bool = True, inbox: bool = True) -> None:
    """For a service's first migration: the outbox (with its NOTIFY trigger) and the inbox."""
    metadata = MetaData()
    if outbox:
        outbox_table(metadata)
    if inbox:
        inbox_table(metadata)
    metadata.create_all(op.get_bind())
    if outbox:
        for statement in CREATE_NOTIFY_TRIGGER:
            op.execute(statement)


def drop_messaging_tables(op) -> None:
    for statement in DROP_NOTIFY_TRIGGER:
        op.execute(statement)
    op.execute("DROP TABLE IF EXISTS outbox_message")
    op.execute("DROP TABLE IF EXISTS inbox_message")


def create_inbox_retention_index(op) -> None:
    """The BRIN index on `inbox_message.processed_at` that the retention job finds old rows with
    (`pur_kit.inbox_retention`): a few KB for millions of rows, and almost free to keep up, since
    rows arrive in time order. Built in the migration's transaction: the build reads the table once
    (timed in libs/kit/README.md, "Inbox retention") and holds back claims meanwhile."""
    op.execute(CREATE_INBOX_RETENTION_INDEX)


def drop_inbox_retention_index(op) -> None:
    op.execute(DROP_INBOX_RETENTION_INDEX)


def run_alembic_env(target_metadata: MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection, target_metadata)
        return
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def online() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_run, target_metadata)
        await engine.dispose()

    asyncio.run(online())


def _run(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def alembic_config(service_dir: Path, url: str) -> Config:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Every replica migrates at start-up: the lock makes concurrent starts take turns (the second finds
# the schema at head and does nothing) instead of both creating the same tables and one crashing.
# Transaction-scoped, so it is released by the commit and works behind a transaction pooler too.
MIGRATION_LOCK_KEY = 0x70757220  # "pur "

# Migrations and the database admin below may be given a transaction-pooling PgBouncer's URL (a
# service behind one without DATABASE_DIRECT_URL; a `migrate` command run with the pooled URL).
# PgBouncer 1.18 keeps a client's named prepared statements on the server connection it happened to
# use, where the next client's asyncpg, counting from `__asyncpg_stmt_1__` again, collides with them
# (eight `migrate` processes at once through 2 server connections: 14 of 16 failed). So none is
# cached and Alembic's (every one inside the migration's transaction) get unique names: 0 of 24
# failed. Nothing is lost: these statements run once.
_ASYNCPG_ADMIN = {"statement_cache_size": 0}
_SQLALCHEMY_POOLER_SAFE = {"prepared_statement_cache_size": 0, "statement_cache_size": 0,
                           "prepared_statement_name_func": lambda: f"__pur_migrate_{uuid4().hex}__"}


async def upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    cfg = alembic_config(service_dir, url)
    engine = create_async_engine(url, connect_args=_SQLALCHEMY_POOLER_SAFE)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")

            def _upgrade(sync_conn: Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


async def ensure_database(url: str) -> bool:
    """Create the URL's database when missing; True when it was created."""
    name = make_url(url).database
    conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")), **_ASYNCPG_ADMIN)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.exceptions.DuplicateDatabaseError, asyncpg.exceptions.UniqueViolationError):
                # another replica created it at the same moment (the second CREATE fails on the
                # catalog's unique index when both passed the check before either committed)
                return False
        return not exists
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")), **_ASYNCPG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
