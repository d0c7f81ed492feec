"""Read-side queries: the delivery log, and its JSON shape."""
from __future__ import annotations

from datetime import date
from typing import NamedTuple
from uuid import UUID

import asyncpg
from pur_kit import cursor as keyset

DELIVERY_COLUMNS = """d.id, d.district_id, d.recipient_id, u.given_name, u.family_name, d.local_date, d.status,
    d.attempts, d.request_ids, d.total_open, d.new_count, d.claimed_at, d.sent_at, d.next_attempt_at,
    d.last_error, d.message_id, d.run_id"""


class Cursor(NamedTuple):
    """Position after the last row of a page: the log is ordered by (local_date desc, recipient_id)."""

    local_date: date
    recipient_id: UUID

    def encode(self) -> str:
        return keyset.encode(self)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The position of a token from `encode`; pur_kit.cursor.BadCursor for anything else."""
        return cls(*keyset.decode(token, (date, UUID)))


async def delivery_log(conn: asyncpg.Connection, *, district_id: str | None, local_date: date | None,
                       status: str | None, limit: int, after: Cursor | None) -> tuple[list[dict], Cursor | None]:
    where, args = [], []

    def param(value) -> str:
        args.append(value)
        return f"${len(args)}"

    if district_id is not None:
        where.append(f"d.district_id = {param(district_id)}")
    if local_date is not None:
        where.append(f"d.local_date = {param(local_date)}")
    if status is not None:
        where.append(f"d.status = {param(status)}")
    if after is not None:
        day, rid = param(after.local_date), param(after.recipient_id)
        where.append(f"(d.local_date < {day} OR (d.local_date = {day} AND d.recipient_id > {rid}))")
    sql = (f"SELECT {DELIVERY_COLUMNS} FROM digest_delivery d LEFT JOIN directory_user u ON u.id = d.recipient_id"
           f"{' WHERE ' + ' AND '.join(where) if where else ''}"
           f" ORDER BY d.local_date DESC, d.recipient_id LIMIT {param(limit + 1)}")
    rows = await conn.fetch(sql, *args)
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = Cursor(rows[-1]["local_date"], rows[-1]["recipient_id"])
    return [delivery_public(r) for r in rows], following


def delivery_public(row) -> dict:
    name = f"{row['given_name'] or ''} {row['family_name'] or ''}".strip() or None

    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "id": str(row["id"]), "district_id": row["district_id"], "local_date": row["local_date"].isoformat(),
        "recipient": {"id": str(row["recipient_id"]), "name": name},
        "status": row["status"], "attempts": row["attempts"],
        "request_ids": [str(i) for i in row["request_ids"]], "total_open": row["total_open"],
        "new_count": row["new_count"], "claimed_at": iso(row["claimed_at"]), "sent_at": iso(row["sent_at"]),
        "next_attempt_at": iso(row["next_attempt_at"]), "last_error": row["last_error"],
        "message_id": row["message_id"], "run_id": str(row["run_id"]) if row["run_id"] else None,
    }
