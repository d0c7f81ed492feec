"""The selection of one scope (asyncpg), set-based, never "load every request, filter per person":
the district's and each school's count and oldest request come from an aggregate over an index,
their newest N requests from an index walk (`LIMIT`); service_layer/selection.py combines them per
recipient scope."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from ..domain.digest import RequestLine, ScopeView

_LINE = "r.id, r.requester_name, r.school_ids, r.submitted_at, r.fields, r.has_note, r.appears_applied"
DISTRICT_TOTALS = """SELECT count(*) AS total, min(submitted_at) AS oldest
                     FROM request WHERE district_id = $1 AND status = 'new'"""
DISTRICT_NEWEST = f"""SELECT {_LINE} FROM request r WHERE r.district_id = $1 AND r.status = 'new'
                      ORDER BY r.submitted_at DESC, r.id DESC LIMIT $2"""
DISTRICT_NEW_SINCE = """SELECT count(*) FROM request
                        WHERE district_id = $1 AND status = 'new' AND submitted_at > $2"""
SCHOOL_TOTALS = """SELECT count(*) AS total, min(submitted_at) AS oldest, count(*) FILTER (WHERE shared) AS shared
                   FROM request_school WHERE district_id = $1 AND school_id = $2"""
SCHOOL_NEWEST = f"""SELECT {_LINE} FROM request_school rs JOIN request r ON r.id = rs.request_id
                    WHERE rs.district_id = $1 AND rs.school_id = $2
                    ORDER BY rs.submitted_at DESC, rs.request_id DESC LIMIT $3"""
# Requests at several of the given schools are counted once per school by the per-school totals:
# this is how many times too many (only `shared` rows can repeat).
SHARED_OVERLAP = """SELECT count(*) - count(DISTINCT request_id) FROM request_school
                    WHERE district_id = $1 AND school_id = ANY($2::text[]) AND shared"""
SCHOOLS_NEW_SINCE = """SELECT count(*) FILTER (WHERE NOT shared) + count(DISTINCT request_id) FILTER (WHERE shared)
                       FROM request_school
                       WHERE district_id = $1 AND school_id = ANY($2::text[]) AND submitted_at > $3"""


def _line(row) -> RequestLine:
    return RequestLine(
        id=row["id"], requester_name=row["requester_name"], school_ids=tuple(row["school_ids"]),
        submitted_at=row["submitted_at"], fields=tuple(row["fields"]), has_note=row["has_note"],
        appears_applied=row["appears_applied"],
    )


class Scopes:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def district_view(self, district_id: str, limit: int) -> ScopeView:
        totals = await self.conn.fetchrow(DISTRICT_TOTALS, district_id)
        rows = await self.conn.fetch(DISTRICT_NEWEST, district_id, limit) if totals["total"] else []
        return ScopeView(totals["total"], totals["oldest"], tuple(_line(r) for r in rows))

    async def school_view(self, district_id: str, school_id: str, limit: int) -> ScopeView:
        totals = await self.conn.fetchrow(SCHOOL_TOTALS, district_id, school_id)
        rows = await self.conn.fetch(SCHOOL_NEWEST, district_id, school_id, limit) if totals["total"] else []
        return ScopeView(totals["total"], totals["oldest"], tuple(_line(r) for r in rows), shared=totals["shared"])

    async def shared_overlap(self, district_id: str, school_ids: Sequence[str]) -> int:
        """How many times the per-school totals of these schools count a request too many."""
        return await self.conn.fetchval(SHARED_OVERLAP, district_id, list(school_ids))

    async def count_new_since(self, district_id: str, scope_key: tuple, since: datetime) -> int:
        if scope_key[0] == "district":
            return await self.conn.fetchval(DISTRICT_NEW_SINCE, district_id, since)
        return await self.conn.fetchval(SCHOOLS_NEW_SINCE, district_id, list(scope_key[1:]), since)
