"""Read side: the JSON shapes of docs/product-rules.md and the queries behind the GET endpoints."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from pur_kit import cursor as keyset
from sqlalchemy import Text, and_, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import directory_user, sis_import_run
from .domain.access import Scope

EMPTY_COUNTS = {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0, "rejected": 0}


def user_public(row: Row) -> dict[str, Any]:
    return {
        "id": str(row.id), "district_id": row.district_id, "sis_id": row.sis_id, "role": row.role,
        "given_name": row.given_name, "family_name": row.family_name,
        "email": row.email, "phone": row.phone, "sms": row.sms,
        "school_ids": list(row.school_ids), "active": row.active,
        "permissions": _permissions_public(row.permissions),
        # extensions
        "agent_sis_ids": list(row.agent_sis_ids), "version": row.version,
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
        "id": str(row.id), "district_id": row.district_id, "status": row.status,
        "progress": {"rows_done": row.rows_done, "rows_total": row.rows_total},
        "counts": row.counts or dict(EMPTY_COUNTS),
        "errors": row.errors,
        # extensions
        "error_count": row.error_count, "warnings": row.warnings, "failure": row.failure, "phase": row.phase,
        "forced": row.forced, "source": row.source, "source_name": row.source_name,
        "created_at": ts(row.created_at), "started_at": ts(row.started_at), "finished_at": ts(row.finished_at),
    }


def decode_cursor(token: str) -> tuple[str, str]:
    """The (district_id, sis_id) after which `list_users` goes on; pur_kit.cursor.BadCursor if forged."""
    return keyset.decode(token, (str, str))


async def list_users(session: AsyncSession, scope: Scope, *, sis_id: str | None, role: str | None,
                     school_id: str | None, active: bool | None, limit: int,
                     after: tuple[str, str] | None) -> tuple[list[Row], str | None]:
    u = directory_user.c
    conditions = []
    if scope.district_id is not None:
        conditions.append(u.district_id == scope.district_id)
    if scope.school_ids is not None:
        visible = u.school_ids.overlap(literal(sorted(scope.school_ids), ARRAY(Text))) if scope.school_ids else None
        own = u.id == scope.only_user_id if scope.only_user_id else None
        parts = [p for p in (visible, own) if p is not None]
        conditions.append(or_(*parts) if parts else u.id.is_(None))
    if sis_id is not None:
        conditions.append(u.sis_id == sis_id)
    if role is not None:
        conditions.append(u.role == role.lower())
    if school_id is not None:
        conditions.append(u.school_ids.contains(literal([school_id], ARRAY(Text))))
    if active is not None:
        conditions.append(u.active == active)
    if after is not None:
        conditions.append(tuple_(u.district_id, u.sis_id) > tuple_(*after))
    query = (select(directory_user).where(and_(*conditions)).order_by(u.district_id, u.sis_id).limit(limit + 1))
    rows = list((await session.execute(query)).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], keyset.encode((last.district_id, last.sis_id))


async def get_run(session: AsyncSession, run_id: UUID) -> Row | None:
    return (await session.execute(select(sis_import_run).where(sis_import_run.c.id == run_id))).first()


async def list_runs(session: AsyncSession, district_id: str, limit: int) -> list[Row]:
    query = (select(sis_import_run).where(sis_import_run.c.district_id == district_id)
             .order_by(sis_import_run.c.created_at.desc()).limit(limit))
    return list((await session.execute(query)).all())
