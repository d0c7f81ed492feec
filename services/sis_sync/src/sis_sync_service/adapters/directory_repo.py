"""The directory's rows for the commands of the API, the CLI and the message handlers (the import
is set-based: roster_apply.py). Each repository works on the connection of one unit of work."""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from uuid import UUID

import asyncpg
from pur_contracts import (
    DirectorySchool,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    UserPermissions,
)

from ..domain.contact import CONTACT_FIELDS

Row = Mapping[str, Any]  # a directory_user row (an asyncpg Record, or a dict in unit tests)
REPLAY_BATCH = 1000


class DirectoryUsers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, user_id: UUID, *, for_update: bool = False) -> Row | None:
        lock = " FOR UPDATE" if for_update else ""
        return await self.conn.fetchrow(f"SELECT * FROM directory_user WHERE id = $1{lock}", user_id)

    async def get_by_sis_id(self, district_id: str, sis_id: str, *, for_update: bool = False) -> Row | None:
        lock = " FOR UPDATE" if for_update else ""
        return await self.conn.fetchrow(
            f"SELECT * FROM directory_user WHERE district_id = $1 AND sis_id = $2{lock}", district_id, sis_id)

    async def set_permissions(self, user_id: UUID, permissions: dict) -> Row:
        """Store the permissions object and bump the version; the new row."""
        return await self.conn.fetchrow(
            "UPDATE directory_user SET permissions = $2::jsonb, version = version + 1, updated_at = now() "
            "WHERE id = $1 RETURNING *", user_id, permissions)

    async def set_own_contact(self, user_id: UUID, values: dict[str, str | None]) -> Row:
        """Store contact fields the user edited, marking each as self-edited; the new row."""
        fields = [f for f in CONTACT_FIELDS if f in values]
        assignments = ", ".join(f"{f} = ${i}, {f}_self_edited = true" for i, f in enumerate(fields, start=2))
        return await self.conn.fetchrow(
            f"UPDATE directory_user SET {assignments}, contact_self_edited_at = now(), version = version + 1, "
            "updated_at = now() WHERE id = $1 RETURNING *", user_id, *(values[f] for f in fields))

    async def in_batches(self, district_id: str | None) -> AsyncIterator[list[Row]]:
        """Every user (of one district, or all), a batch at a time (inside the unit of work)."""
        cursor = await self.conn.cursor(
            "SELECT * FROM directory_user WHERE $1::text IS NULL OR district_id = $1 ORDER BY district_id, sis_id",
            district_id)
        while batch := await cursor.fetch(REPLAY_BATCH):
            yield batch


class Schools:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def active_ids(self, district_id: str) -> set[str]:
        rows = await self.conn.fetch("SELECT id FROM school WHERE district_id = $1 AND active", district_id)
        return {r["id"] for r in rows}

    async def all(self, district_id: str | None) -> list[Row]:
        return await self.conn.fetch(
            "SELECT * FROM school WHERE $1::text IS NULL OR district_id = $1 ORDER BY district_id, id", district_id)


class SettingsProjection:
    """The projection of settings.district.changed: what the sync needs of each district's settings."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def contact_auto_update(self, district_id: str) -> bool:
        value = await self.conn.fetchval(
            "SELECT contact_details_auto_update FROM district_settings WHERE district_id = $1", district_id)
        return True if value is None else value  # the settings default until the projection knows better

    async def save_if_newer(self, district_id: str, version: int, contact_auto_update: bool) -> None:
        await self.conn.execute(
            """INSERT INTO district_settings (district_id, version, contact_details_auto_update, updated_at)
               VALUES ($1, $2, $3, now())
               ON CONFLICT (district_id) DO UPDATE
                 SET version = EXCLUDED.version, contact_details_auto_update = EXCLUDED.contact_details_auto_update,
                     updated_at = EXCLUDED.updated_at
                 WHERE district_settings.version < EXCLUDED.version""",
            district_id, version, contact_auto_update)

    async def any(self) -> bool:
        return await self.conn.fetchval("SELECT EXISTS (SELECT 1 FROM district_settings)")


def snapshot(row: Row) -> DirectoryUser:
    return DirectoryUser(
        id=row["id"], district_id=row["district_id"], sis_id=row["sis_id"], role=row["role"],
        given_name=row["given_name"], family_name=row["family_name"], email=row["email"], phone=row["phone"],
        sms=row["sms"], school_ids=list(row["school_ids"]), active=row["active"],
        permissions=UserPermissions.model_validate(row["permissions"]),
    )


def user_event(row: Row) -> DirectoryUserUpserted | DirectoryUserDeactivated:
    """The event of a user's current state: deactivated whenever the user is inactive."""
    event = DirectoryUserUpserted if row["active"] else DirectoryUserDeactivated
    return event(district_id=row["district_id"], version=row["version"], user=snapshot(row))


def school_event(row: Row) -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(district_id=row["district_id"], version=row["version"], school=DirectorySchool(
        id=row["id"], district_id=row["district_id"], name=row["name"], active=row["active"]))
