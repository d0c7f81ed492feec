"""Read-side queries for the API and the pages."""
from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from .adapters.orm import directory_user
from .adapters.repository import SettingsRepository
from .domain.access import DirectoryRecord
from .domain.model import DistrictSettings, UnknownDistrict


async def district_settings(sessions: async_sessionmaker, district_id: str) -> DistrictSettings:
    """The district's settings (the defaults at version 0 when never changed); UnknownDistrict when
    the directory never told us of the district."""
    async with sessions() as session:
        repo = SettingsRepository(session)
        if not await repo.district_known(district_id):
            raise UnknownDistrict(district_id)
        return await repo.get(district_id)


async def directory_record(sessions: async_sessionmaker, user_id: UUID | None) -> DirectoryRecord | None:
    if user_id is None:
        return None
    query = select(directory_user.c.district_id, directory_user.c.active, directory_user.c.district_admin).where(
        directory_user.c.id == user_id)
    async with sessions() as session:
        row = (await session.execute(query)).first()
    return DirectoryRecord(row.district_id, row.active, row.district_admin) if row else None
