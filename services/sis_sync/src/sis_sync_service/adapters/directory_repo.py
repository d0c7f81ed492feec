"""Row-level reads and writes of the directory for the HTTP/CLI commands (the import is set-based)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from pur_contracts import DirectoryUser, DirectoryUserDeactivated, DirectoryUserUpserted, UserPermissions
from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from .orm import directory_user, district_settings, school


async def get_user(session: AsyncSession, user_id: UUID, *, for_update: bool = False) -> Row | None:
    query = select(directory_user).where(directory_user.c.id == user_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def get_user_by_sis_id(session: AsyncSession, district_id: str, sis_id: str, *,
                             for_update: bool = False) -> Row | None:
    query = select(directory_user).where(directory_user.c.district_id == district_id,
                                         directory_user.c.sis_id == sis_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def district_school_ids(session: AsyncSession, district_id: str) -> set[str]:
    rows = await session.execute(select(school.c.id).where(school.c.district_id == district_id, school.c.active))
    return {r[0] for r in rows}


async def contact_auto_update(session: AsyncSession, district_id: str) -> bool:
    value = (await session.execute(select(district_settings.c.contact_details_auto_update)
                                   .where(district_settings.c.district_id == district_id))).scalar()
    return True if value is None else value


async def update_user(session: AsyncSession, user_id: UUID, values: dict[str, Any]) -> Row:
    """Apply `values`, bump the version; returns the new row."""
    stmt = (update(directory_user).where(directory_user.c.id == user_id)
            .values(**values, version=directory_user.c.version + 1, updated_at=func.now())
            .returning(*directory_user.c))
    return (await session.execute(stmt)).one()


def snapshot(row: Row) -> DirectoryUser:
    return DirectoryUser(
        id=row.id, district_id=row.district_id, sis_id=row.sis_id, role=row.role,
        given_name=row.given_name, family_name=row.family_name, email=row.email, phone=row.phone, sms=row.sms,
        school_ids=list(row.school_ids), active=row.active, permissions=UserPermissions.model_validate(row.permissions),
    )


def user_event(row: Row) -> DirectoryUserUpserted | DirectoryUserDeactivated:
    event = DirectoryUserUpserted if row.active else DirectoryUserDeactivated
    return event(district_id=row.district_id, version=row.version, user=snapshot(row))
