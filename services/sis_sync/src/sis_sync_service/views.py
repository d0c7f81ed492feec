"""Read side: the JSON shapes of docs/product-rules.md and the queries behind the GET endpoints."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg
from pur_kit import cursor as keyset

from .domain.access import Scope

Row = Mapping[str, Any]
EMPTY_COUNTS = {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0, "rejected": 0}


def user_public(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "district_id": row["district_id"], "sis_id": row["sis_id"], "role": row["role"],
        "given_name": row["given_name"], "family_name": row["family_name"],
        "email": row["email"], "phone": row["phone"], "sms": row["sms"],
        "school_ids": list(row["school_ids"]), "active": row["active"],
        "permissions": _permissions_public(row["permissions"]),
        # extensions
        "agent_sis_ids": list(row["agent_sis_ids"]), "version": row["version"],
    }


def _permissions_public(permissions: dict) -> dict:
    manager = permissions.get("users_manager")
    if manager and manager.get("scope") == "district":
        manager = {"scope": "district"}
    return {"district_admin": bool(permissions.get("district_admin")), "users_manager": manager}


def run_public(row: Row) -> dict[str, Any]:
    def ts(value):
        return value.isoformat() if value else None

    return {
        "id": str(row["id"]), "district_id": row["district_id"], "status": row["status"],
        "progress": {"rows_done": row["rows_done"], "rows_total": row["rows_total"]},
        "counts": row["counts"] or dict(EMPTY_COUNTS),
        "errors": row["errors"],
        # extensions
        "error_count": row["error_count"], "warnings": row["warnings"], "failure": row["failure"],
        "phase": row["phase"], "forced": row["forced"], "source": row["source"], "source_name": row["source_name"],
        "created_at": ts(row["created_at"]), "started_at": ts(row["started_at"]),
        "finished_at": ts(row["finished_at"]),
    }


def decode_cursor(token: str) -> tuple[str, str]:
    """The (district_id, sis_id) after which `list_users` goes on; pur_kit.cursor.BadCursor if forged."""
    return keyset.decode(token, (str, str))


async def list_users(conn: asyncpg.Connection, scope: Scope, *, sis_id: str | None, role: str | None,
                     school_id: str | None, active: bool | None, limit: int,
                     after: tuple[str, str] | None) -> tuple[list[Row], str | None]:
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if scope.district_id is not None:
        conditions.append(f"district_id = {arg(scope.district_id)}")
    if scope.school_ids is not None:
        visible = f"school_ids && {arg(sorted(scope.school_ids))}::text[]" if scope.school_ids else None
        own = f"id = {arg(scope.only_user_id)}" if scope.only_user_id else None
        parts = [p for p in (visible, own) if p is not None]
        conditions.append(f"({' OR '.join(parts)})" if parts else "false")
    if sis_id is not None:
        conditions.append(f"sis_id = {arg(sis_id)}")
    if role is not None:
        conditions.append(f"role = {arg(role.lower())}")
    if school_id is not None:
        conditions.append(f"school_ids @> ARRAY[{arg(school_id)}::text]")
    if active is not None:
        conditions.append(f"active = {arg(active)}")
    if after is not None:
        conditions.append(f"(district_id, sis_id) > ({arg(after[0])}::text, {arg(after[1])}::text)")
    where = " AND ".join(conditions) or "true"
    rows = await conn.fetch(f"SELECT * FROM directory_user WHERE {where} ORDER BY district_id, sis_id "
                            f"LIMIT {arg(limit + 1)}", *args)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], keyset.encode((last["district_id"], last["sis_id"]))


async def get_run(conn: asyncpg.Connection, run_id: UUID) -> Row | None:
    return await conn.fetchrow("SELECT * FROM sis_import_run WHERE id = $1", run_id)


async def list_runs(conn: asyncpg.Connection, district_id: str, limit: int) -> list[Row]:
    return await conn.fetch(
        "SELECT * FROM sis_import_run WHERE district_id = $1 ORDER BY created_at DESC LIMIT $2", district_id, limit)
