"""Read-side queries for the API and the pages, on a pooled connection outside any unit of work."""
from __future__ import annotations

from uuid import UUID

from pur_kit.uow import Database

from .adapters.repository import Repositories
from .domain.access import DirectoryRecord
from .domain.model import DistrictSettings, UnknownDistrict


async def district_settings(db: Database[Repositories], district_id: str) -> DistrictSettings:
    """The district's settings (the defaults at version 0 when never changed); UnknownDistrict when
    the directory never told us of the district."""
    async with db.acquire() as conn:
        repos = Repositories(conn)
        if not await repos.directory.district_known(district_id):
            raise UnknownDistrict(district_id)
        return await repos.settings.get(district_id)


async def directory_record(db: Database[Repositories], user_id: UUID | None) -> DirectoryRecord | None:
    """What the directory says of the caller; None for the system or someone it never mentioned."""
    if user_id is None:
        return None
    async with db.acquire() as conn:
        return await Repositories(conn).directory.record(user_id)
