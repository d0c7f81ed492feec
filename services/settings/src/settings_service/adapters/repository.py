"""Loading and saving district settings; `lock` serializes writers of one district."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.model import DistrictSettings, Notifications, SisSync
from .orm import directory_user
from .orm import district_settings as t


def to_row(s: DistrictSettings) -> dict[str, Any]:
    return {
        "district_id": s.district_id, "version": s.version,
        "profile_update_requests_enabled": s.profile_update_requests_enabled,
        "daily_digest_enabled": s.notifications.daily_digest_enabled,
        "digest_local_time": s.notifications.digest_local_time,
        "timezone": s.notifications.timezone,
        "contact_details_auto_update": s.sis_sync.contact_details_auto_update,
        "updated_at": s.updated_at, "updated_by": s.updated_by,
    }


def from_row(row) -> DistrictSettings:
    return DistrictSettings(
        district_id=row.district_id, version=row.version,
        profile_update_requests_enabled=row.profile_update_requests_enabled,
        notifications=Notifications(row.daily_digest_enabled, row.digest_local_time, row.timezone),
        sis_sync=SisSync(row.contact_details_auto_update),
        updated_at=row.updated_at, updated_by=row.updated_by,
    )


class SettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def district_known(self, district_id: str) -> bool:
        """Whether the directory told us of a user of the district (active or not)."""
        return bool(await self.session.scalar(select(exists().where(directory_user.c.district_id == district_id))))

    async def get(self, district_id: str) -> DistrictSettings:
        row = (await self.session.execute(select(t).where(t.c.district_id == district_id))).first()
        return from_row(row) if row else DistrictSettings(district_id)

    async def lock(self, district_id: str) -> DistrictSettings:
        """The current settings, row-locked until the transaction ends.

        A never-configured district first gets its row at version 0 (the defaults) so that there is
        something to lock: concurrent first writers then queue on the same row instead of racing.
        """
        locked = select(t).where(t.c.district_id == district_id).with_for_update()
        row = (await self.session.execute(locked)).first()
        if row is None:
            await self.session.execute(
                pg_insert(t).values(**to_row(DistrictSettings(district_id))).on_conflict_do_nothing())
            row = (await self.session.execute(locked)).one()
        return from_row(row)

    async def save(self, settings: DistrictSettings) -> None:
        values = to_row(settings)
        await self.session.execute(update(t).where(t.c.district_id == settings.district_id).values(**values))

    async def configured(self, district_id: str | None = None) -> Sequence[DistrictSettings]:
        """Every district (or the one given) that was ever changed, i.e. has a version above 0."""
        query = select(t).where(t.c.version > 0).order_by(t.c.district_id)
        if district_id is not None:
            query = query.where(t.c.district_id == district_id)
        return [from_row(row) for row in (await self.session.execute(query))]
