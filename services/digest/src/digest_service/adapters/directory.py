"""What runs and the API read from the projections: districts (settings), school names, who may
act on a district, and the recipients of a district's digest."""
from __future__ import annotations

from datetime import date
from uuid import UUID

import asyncpg

from ..domain.digest import Recipient
from ..domain.district import District

_DISTRICT_COLUMNS = "district_id, enabled, digest_enabled, digest_local_time, timezone"
DISTRICT = f"SELECT {_DISTRICT_COLUMNS} FROM district_settings WHERE district_id = $1"
DIGEST_DISTRICTS = f"""SELECT {_DISTRICT_COLUMNS} FROM district_settings WHERE enabled AND digest_enabled
                       ORDER BY district_id"""
ALL_DISTRICT_IDS = "SELECT district_id FROM district_settings ORDER BY district_id"
DISTRICT_EXISTS = """SELECT EXISTS (SELECT 1 FROM district_settings WHERE district_id = $1)
                         OR EXISTS (SELECT 1 FROM directory_user WHERE district_id = $1)"""
ADMINISTERED_BY = "SELECT district_id FROM directory_user WHERE id = $1 AND active AND district_admin"
SCHOOL_NAMES = "SELECT id, name FROM school WHERE district_id = $1"

_RECIPIENT_COLUMNS = """
    u.id, u.district_id, u.email, u.given_name, u.family_name, u.manager_scope, u.manager_school_ids,
    (SELECT max(d.content_as_of) FROM digest_delivery d
      WHERE d.recipient_id = u.id AND d.status = 'sent') AS last_digest_at,
    EXISTS (SELECT 1 FROM digest_delivery d WHERE d.recipient_id = u.id AND d.local_date = $2) AS delivered,
    EXISTS (SELECT 1 FROM digest_opt_out o WHERE o.user_id = u.id) AS opted_out"""
RECIPIENTS = f"""SELECT {_RECIPIENT_COLUMNS} FROM directory_user u
    WHERE u.district_id = $1 AND u.active AND u.manager_scope IS NOT NULL ORDER BY u.id"""
RECIPIENT = f"""SELECT {_RECIPIENT_COLUMNS} FROM directory_user u
    WHERE u.id = $1 AND u.active AND u.manager_scope IS NOT NULL"""


def _recipient(row) -> Recipient:
    return Recipient(
        id=row["id"], district_id=row["district_id"], email=row["email"], given_name=row["given_name"],
        family_name=row["family_name"], scope=row["manager_scope"],
        school_ids=tuple(row["manager_school_ids"] or ()), last_digest_at=row["last_digest_at"],
        delivered_on_date=row["delivered"], opted_out=row["opted_out"],
    )


class Directory:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def district(self, district_id: str) -> District | None:
        """None when no settings were published for it (the feature is off by default)."""
        row = await self.conn.fetchrow(DISTRICT, district_id)
        return District.from_row(row) if row else None

    async def digest_districts(self) -> list[District]:
        """The districts with the feature and the digest on."""
        return [District.from_row(r) for r in await self.conn.fetch(DIGEST_DISTRICTS)]

    async def district_ids(self) -> list[str]:
        return [r["district_id"] for r in await self.conn.fetch(ALL_DISTRICT_IDS)]

    async def district_exists(self, district_id: str) -> bool:
        """Known from its settings or from its directory."""
        return bool(await self.conn.fetchval(DISTRICT_EXISTS, district_id))

    async def district_administered_by(self, user_id: UUID | None) -> str | None:
        """The district an active user administers, or None."""
        return await self.conn.fetchval(ADMINISTERED_BY, user_id)

    async def school_names(self, district_id: str) -> dict[str, str]:
        return {r["id"]: r["name"] for r in await self.conn.fetch(SCHOOL_NAMES, district_id)}

    async def recipients(self, district_id: str, local_date: date) -> list[Recipient]:
        """The district's active Users Managers, each saying whether they have a delivery that day."""
        return [_recipient(r) for r in await self.conn.fetch(RECIPIENTS, district_id, local_date)]

    async def recipient(self, recipient_id: UUID, local_date: date) -> Recipient | None:
        row = await self.conn.fetchrow(RECIPIENT, recipient_id, local_date)
        return _recipient(row) if row else None
