"""The settings database behind repositories over one asyncpg connection (`uow.repos`).

`SettingsRepository` loads and saves district settings (`lock` serializes writers of one district);
`DirectoryRepository` keeps this service's version-gated copy of the directory: who exists, in which
district, active or not, district administrator or not (nothing personal).
"""
from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from ..domain.access import DirectoryRecord
from ..domain.model import DistrictSettings, Notifications, SisSync

_COLUMNS = ("district_id, version, profile_update_requests_enabled, daily_digest_enabled, digest_local_time, "
            "timezone, contact_details_auto_update, updated_at, updated_by")
_SELECT = f"SELECT {_COLUMNS} FROM district_settings WHERE district_id = $1"
_LOCK = f"{_SELECT} FOR UPDATE"
_INSERT = (f"INSERT INTO district_settings ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
           "ON CONFLICT (district_id) DO NOTHING")
_UPDATE = (
    "UPDATE district_settings SET version = $2, profile_update_requests_enabled = $3, daily_digest_enabled = $4, "
    "digest_local_time = $5, timezone = $6, contact_details_auto_update = $7, updated_at = $8, updated_by = $9 "
    "WHERE district_id = $1"
)
_CONFIGURED = (f"SELECT {_COLUMNS} FROM district_settings "
               "WHERE version > 0 AND ($1::text IS NULL OR district_id = $1) ORDER BY district_id")

_UPSERT_USER_IF_NEWER = (
    "INSERT INTO directory_user (id, district_id, version, active, district_admin) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (id) DO UPDATE SET district_id = EXCLUDED.district_id, version = EXCLUDED.version, "
    "active = EXCLUDED.active, district_admin = EXCLUDED.district_admin "
    "WHERE directory_user.version < EXCLUDED.version RETURNING id"
)
_USER = "SELECT district_id, active, district_admin FROM directory_user WHERE id = $1"
_DISTRICT_KNOWN = "SELECT EXISTS (SELECT 1 FROM directory_user WHERE district_id = $1)"
_ANY_USER = "SELECT EXISTS (SELECT 1 FROM directory_user)"


def _values(s: DistrictSettings) -> tuple:
    """The row of `s`, in the order of `_COLUMNS`."""
    return (s.district_id, s.version, s.profile_update_requests_enabled, s.notifications.daily_digest_enabled,
            s.notifications.digest_local_time, s.notifications.timezone, s.sis_sync.contact_details_auto_update,
            s.updated_at, s.updated_by)


def _settings(row: asyncpg.Record) -> DistrictSettings:
    return DistrictSettings(
        district_id=row["district_id"], version=row["version"],
        profile_update_requests_enabled=row["profile_update_requests_enabled"],
        notifications=Notifications(row["daily_digest_enabled"], row["digest_local_time"], row["timezone"]),
        sis_sync=SisSync(row["contact_details_auto_update"]),
        updated_at=row["updated_at"], updated_by=row["updated_by"],
    )


class SettingsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, district_id: str) -> DistrictSettings:
        """The stored settings, or the defaults at version 0 when the district has no row."""
        row = await self._conn.fetchrow(_SELECT, district_id)
        return _settings(row) if row else DistrictSettings(district_id)

    async def lock(self, district_id: str) -> DistrictSettings:
        """The current settings, row-locked until the transaction ends.

        A never-configured district first gets its row at version 0 (the defaults) so that there is
        something to lock: concurrent first writers then queue on the same row instead of racing.
        """
        row = await self._conn.fetchrow(_LOCK, district_id)
        if row is None:
            await self._conn.execute(_INSERT, *_values(DistrictSettings(district_id)))
            row = await self._conn.fetchrow(_LOCK, district_id)
        return _settings(row)

    async def save(self, settings: DistrictSettings) -> None:
        """Overwrite the district's row (taken by `lock` in the same transaction)."""
        await self._conn.execute(_UPDATE, *_values(settings))

    async def configured(self, district_id: str | None = None) -> Sequence[DistrictSettings]:
        """Every district (or the one given) that was ever changed, i.e. has a version above 0."""
        return [_settings(row) for row in await self._conn.fetch(_CONFIGURED, district_id)]


class DirectoryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save_if_newer(self, user_id: UUID, version: int, record: DirectoryRecord) -> bool:
        """Store what the directory says of a user unless a newer version is stored; True if stored."""
        return await self._conn.fetchval(_UPSERT_USER_IF_NEWER, user_id, record.district_id, version,
                                         record.active, record.district_admin) is not None

    async def record(self, user_id: UUID) -> DirectoryRecord | None:
        row = await self._conn.fetchrow(_USER, user_id)
        return DirectoryRecord(row["district_id"], row["active"], row["district_admin"]) if row else None

    async def district_known(self, district_id: str) -> bool:
        """Whether the directory told us of a user of the district (active or not)."""
        return await self._conn.fetchval(_DISTRICT_KNOWN, district_id)

    async def any_user(self) -> bool:
        return await self._conn.fetchval(_ANY_USER)


class Repositories:
    """This service's repositories over one connection: `uow.repos` (the kit's `repositories=`)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.settings = SettingsRepository(conn)
        self.directory = DirectoryRepository(conn)
