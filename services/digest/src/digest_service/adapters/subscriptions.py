"""The personal opt-outs of the digest (table `digest_opt_out`): recorded, removed, read."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from ..domain.subscription import Subscription

# The first opt-out stays: repeating it (a mail client retrying its POST) changes nothing.
OPT_OUT = """INSERT INTO digest_opt_out (user_id, district_id, opted_out_at, via) VALUES ($1, $2, $3, $4)
    ON CONFLICT (user_id) DO NOTHING"""
OPT_IN = "DELETE FROM digest_opt_out WHERE user_id = $1"
# What the person's settings page shows: their choice, and whether a digest would reach them at all.
STATUS = """SELECT o.opted_out_at, o.via,
        EXISTS (SELECT 1 FROM directory_user u
                 WHERE u.id = $1 AND u.active AND u.manager_scope IS NOT NULL) AS users_manager,
        EXISTS (SELECT 1 FROM district_settings s
                 WHERE s.district_id = $2 AND s.enabled AND s.digest_enabled) AS district_digest_on
    FROM (SELECT 1) AS one LEFT JOIN digest_opt_out o ON o.user_id = $1"""


class Subscriptions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def opt_out(self, user_id: UUID, district_id: str, at: datetime, via: str) -> None:
        await self.conn.execute(OPT_OUT, user_id, district_id, at, via)

    async def opt_in(self, user_id: UUID) -> None:
        await self.conn.execute(OPT_IN, user_id)

    async def status(self, user_id: UUID, district_id: str) -> Subscription:
        row = await self.conn.fetchrow(STATUS, user_id, district_id)
        return Subscription(subscribed=row["opted_out_at"] is None, changed_at=row["opted_out_at"],
                            via=row["via"], users_manager=row["users_manager"],
                            district_digest_on=row["district_digest_on"])
