"""The projections of other services' state: district settings, schools, directory users.

Every write is version-gated: a row is inserted, or overwritten only by a newer version of it, so
redelivered or reordered events change nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from pur_contracts import DirectorySchool, DirectoryUser


def _upsert_if_newer(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """The INSERT of one row that overwrites an older version of it; it returns a row only when applied."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    values = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {table}.version < EXCLUDED.version "
            "RETURNING true")


# As `_upsert_if_newer`, and a replay of the same version fills in a time zone still missing (rows
# written before migration 0002 had no column for it).
UPSERT_SETTINGS = """INSERT INTO district_settings (district_id, version, profile_update_requests_enabled,
    contact_details_auto_update, updated_at, timezone) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (district_id) DO UPDATE SET version = EXCLUDED.version,
    profile_update_requests_enabled = EXCLUDED.profile_update_requests_enabled,
    contact_details_auto_update = EXCLUDED.contact_details_auto_update, updated_at = EXCLUDED.updated_at,
    timezone = EXCLUDED.timezone
WHERE district_settings.version < EXCLUDED.version
   OR (district_settings.version = EXCLUDED.version AND district_settings.timezone IS NULL)
RETURNING true"""
UPSERT_SCHOOL = _upsert_if_newer("school", ("district_id", "id", "name", "active", "version"), ("district_id", "id"))
UPSERT_USER = _upsert_if_newer(
    "directory_user",
    ("id", "district_id", "version", "sis_id", "role", "given_name", "family_name", "email", "phone", "sms",
     "school_ids", "active", "district_admin", "manager_scope", "manager_school_ids"),
    ("id",))


class ProjectionRepository:
    """The settings, school and directory-user projections over one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save_settings(self, district_id: str, version: int, *, requests_enabled: bool,
                            contact_details_auto_update: bool, timezone: str, at: datetime) -> bool:
        """True when applied (not older than what is stored)."""
        return bool(await self._conn.fetchval(UPSERT_SETTINGS, district_id, version, requests_enabled,
                                              contact_details_auto_update, at, timezone))

    async def save_school(self, school: DirectorySchool, version: int) -> bool:
        return bool(await self._conn.fetchval(UPSERT_SCHOOL, school.district_id, school.id, school.name,
                                              school.active, version))

    async def save_user(self, user: DirectoryUser, version: int) -> bool:
        manager = user.permissions.users_manager
        return bool(await self._conn.fetchval(
            UPSERT_USER, user.id, user.district_id, version, user.sis_id, user.role, user.given_name,
            user.family_name, user.email, user.phone, user.sms, list(user.school_ids), user.active,
            user.permissions.district_admin, manager.scope if manager else None,
            list(manager.school_ids) if manager and manager.scope == "schools" else []))

    async def has_settings(self) -> bool:
        """Some settings are known, and none lacks its time zone (else a replay is due)."""
        return await self._conn.fetchval("""SELECT EXISTS (SELECT 1 FROM district_settings)
   AND NOT EXISTS (SELECT 1 FROM district_settings WHERE timezone IS NULL)""")

    async def has_users(self) -> bool:
        return await self._conn.fetchval("SELECT EXISTS (SELECT 1 FROM directory_user)")
