"""Idempotent consumption: the inbox record and version-gated projection upserts."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def claim_message(session: AsyncSession, inbox: Table, consumer: str, message_id: str) -> bool:
    """Record the message as processed; False when it already was (a duplicate delivery).

    Call it in the same transaction as the handler's effect: if that transaction rolls back, the
    record goes with it and the redelivery is processed again.
    """
    result = await session.execute(
        pg_insert(inbox)
        .values(consumer=consumer, message_id=message_id)
        .on_conflict_do_nothing()
        .returning(inbox.c.message_id)
    )
    return result.first() is not None


async def upsert_if_newer(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    key: list[str],
    version_column: str = "version",
) -> bool:
    """Insert the row, or overwrite it only when the incoming version is newer. True if applied."""
    stmt = pg_insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=key,
        set_={c: stmt.excluded[c] for c in values if c not in key},
        where=table.c[version_column] < stmt.excluded[version_column],
    ).returning(table.c[key[0]])
    return (await session.execute(stmt)).first() is not None
