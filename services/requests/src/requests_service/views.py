"""Read-side queries for the API and the pages (asyncpg, one statement per page of results).

Lists are keyset-paginated on (submitted_at, id), newest first. Every list query walks an index
in that order and stops after `limit` rows, so a deep page costs what the first page costs; see
README.md ("Indexes") for the plans.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import asyncpg
from pur_kit import cursor as keyset

from .domain.access import Viewer
from .domain.errors import NotAManager

STATUSES = {"new": ["new"], "done": ["done"], "all": ["new", "done"]}

_COLUMNS = """r.id, r.district_id, r.requester_id, r.requester_name, r.school_ids, r.status, r.changes,
       r.note, r.appears_applied, r.submitted_at, r.done_at, r.done_by, r.version,
       u.given_name AS current_given_name, u.family_name AS current_family_name,
       u.email AS current_email, u.phone AS current_phone, u.sms AS current_sms"""


class Cursor(NamedTuple):
    """The position after a page's last request (lists run newest first on submitted_at, id)."""

    submitted_at: datetime
    id: UUID

    def encode(self) -> str:
        return keyset.encode(self)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The position of a token from `encode`; pur_kit.cursor.BadCursor for anything else."""
        return cls(*keyset.decode(token, (datetime, UUID)))


@dataclass(frozen=True, slots=True)
class ListQuery:
    district_id: str
    status: str = "new"               # new | done | all
    school_ids: list[str] | None = None  # None: the whole district
    q: str | None = None
    limit: int = 50
    cursor: Cursor | None = None


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page_sql(query: ListQuery) -> tuple[str, list]:
    """The statement selecting one page of request ids, in order, and its parameters.

    Each (status) or (school, status) slice is walked newest-first through its index and stops
    after `limit` rows; the slices are merged. A name search adds its filter inside each slice, so
    the planner can either walk the slice with the filter (a common name: a few hundred rows to find
    50) or start from the trigram index (a rare name) — see `list_requests` for the custom plans.
    """
    params: list = [query.district_id, STATUSES[query.status], query.limit]
    after = ""
    if query.cursor is not None:
        params += [query.cursor.submitted_at, query.cursor.id]
        after = " AND ({t}.submitted_at, {t}.{id}) < ($4, $5)"
    name = ""
    if query.q:
        params.append(_like_pattern(query.q))
        name = f" AND r.requester_name ILIKE ${len(params)}"
    if query.school_ids is None:
        # (district_id, status, submitted_at, id), one backward range scan per status.
        return (f"""SELECT p.id, p.submitted_at FROM unnest($2::text[]) AS st(status)
CROSS JOIN LATERAL (
    SELECT r.id, r.submitted_at FROM request r
    WHERE r.district_id = $1 AND r.status = st.status{after.format(t="r", id="id")}{name}
    ORDER BY r.submitted_at DESC, r.id DESC LIMIT $3) AS p
ORDER BY p.submitted_at DESC, p.id DESC LIMIT $3"""), params
    # request_school (district_id, school_id, status, submitted_at, request_id), one backward range
    # scan per (school, status), de-duplicated: a requester in two of the schools has two rows.
    params.append(query.school_ids)
    join = " JOIN request r ON r.id = rs.request_id" if name else ""
    return (f"""SELECT DISTINCT p.id, p.submitted_at
FROM unnest(${len(params)}::text[]) AS sc(school_id) CROSS JOIN unnest($2::text[]) AS st(status)
CROSS JOIN LATERAL (
    SELECT rs.request_id AS id, rs.submitted_at FROM request_school rs{join}
    WHERE rs.district_id = $1 AND rs.school_id = sc.school_id AND rs.status = st.status\
{after.format(t="rs", id="request_id")}{name}
    ORDER BY rs.submitted_at DESC, rs.request_id DESC LIMIT $3) AS p
ORDER BY p.submitted_at DESC, p.id DESC LIMIT $3"""), params


def scoped_query(viewer: Viewer, *, status: str = "new", school_id: str | None = None, q: str | None = None,
                 limit: int = 50, cursor: Cursor | None = None, district_id: str | None = None) -> ListQuery | None:
    """The list query a viewer may run; None when its answer is empty by scope (another district)."""
    if not viewer.can_list:
        raise NotAManager("only Users Managers can list requests")
    if viewer.scope != "system" and district_id is not None and district_id != viewer.district_id:
        return None
    district = district_id or viewer.district_id
    if district is None:
        raise ValueError("a list belongs to one district")
    search = q.strip() if q else None
    return ListQuery(district_id=district, status=status, school_ids=viewer.schools_to_read(school_id or None),
                     q=search or None, limit=limit, cursor=cursor)


async def list_requests(conn: asyncpg.Connection, query: ListQuery) -> tuple[list, Cursor | None]:
    if query.school_ids == []:
        return [], None
    page_sql, params = _page_sql(query)
    sql = f"""WITH page AS ({page_sql})
SELECT {_COLUMNS} FROM page JOIN request r ON r.id = page.id
LEFT JOIN directory_user u ON u.id = r.requester_id
ORDER BY r.submitted_at DESC, r.id DESC"""
    if query.q:
        # Whether to walk the tab or start from the trigram index depends on how common the name
        # fragment is; a cached generic plan cannot know, so searches are planned per execution.
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = await conn.fetch(sql, *params)
    else:
        rows = await conn.fetch(sql, *params)
    following = Cursor(rows[-1]["submitted_at"], rows[-1]["id"]) if len(rows) == query.limit else None
    return rows, following


async def list_mine(conn: asyncpg.Connection, requester_id: UUID, limit: int,
                    cursor: Cursor | None) -> tuple[list, Cursor | None]:
    params: list = [requester_id, limit]
    after = ""
    if cursor is not None:
        params += [cursor.submitted_at, cursor.id]
        after = " AND (r.submitted_at, r.id) < ($3, $4)"
    rows = await conn.fetch(f"""SELECT {_COLUMNS} FROM request r LEFT JOIN directory_user u ON u.id = r.requester_id
WHERE r.requester_id = $1{after} ORDER BY r.submitted_at DESC, r.id DESC LIMIT $2""", *params)
    following = Cursor(rows[-1]["submitted_at"], rows[-1]["id"]) if len(rows) == limit else None
    return rows, following


async def get_request(conn: asyncpg.Connection, request_id: UUID):
    return await conn.fetchrow(f"""SELECT {_COLUMNS} FROM request r
LEFT JOIN directory_user u ON u.id = r.requester_id WHERE r.id = $1""", request_id)


async def get_history(conn: asyncpg.Connection, request_id: UUID) -> list:
    return await conn.fetch("""SELECT h.action, h.by, h.at,
       CASE WHEN h.by = 'system' THEN 'System' ELSE u.given_name || ' ' || u.family_name END AS by_name
FROM request_history h LEFT JOIN directory_user u ON u.id::text = h.by
WHERE h.request_id = $1 ORDER BY h.id""", request_id)


async def load_viewer(conn: asyncpg.Connection, user_id: UUID, district_id: str) -> tuple[Viewer, object]:
    """The caller's scope from the directory projection (the token only says who is calling)."""
    row = await conn.fetchrow("""SELECT id, district_id, role, given_name, family_name, active, district_admin,
       manager_scope, manager_school_ids FROM directory_user WHERE id = $1""", user_id)
    if row is None or row["district_id"] != district_id:
        return Viewer.nobody(district_id, user_id), None
    return Viewer.of_user(user_id=user_id, district_id=district_id, active=row["active"],
                          manager_scope=row["manager_scope"], manager_school_ids=row["manager_school_ids"]), row


async def school_names(conn: asyncpg.Connection, district_id: str, school_ids: list[str] | None = None) -> dict[str, str]:
    if school_ids is None:
        rows = await conn.fetch("SELECT id, name FROM school WHERE district_id = $1 ORDER BY name", district_id)
    else:
        rows = await conn.fetch("SELECT id, name FROM school WHERE district_id = $1 AND id = ANY($2::text[])",
                                district_id, school_ids)
    return {r["id"]: r["name"] for r in rows}


# --- JSON shapes (docs/product-rules.md, the HTTP contract) ------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_public(row) -> dict:
    return {
        "id": str(row["id"]),
        "district_id": row["district_id"],
        "requester": {"id": str(row["requester_id"]), "name": row["requester_name"],
                      "school_ids": list(row["school_ids"])},
        "status": row["status"],
        "submitted_at": _iso(row["submitted_at"]),
        "changes": [{"field": c["field"], "current": row[f"current_{c['field']}"], "requested": c["requested"]}
                    for c in row["changes"]],
        "note": row["note"],
        "appears_applied": row["appears_applied"],
        "done_at": _iso(row["done_at"]),
        "done_by": row["done_by"],
        "version": row["version"],
    }


def history_public(rows) -> list[dict]:
    return [{"action": h["action"], "by": h["by"], "by_name": h["by_name"], "at": _iso(h["at"])} for h in rows]


def new_request_public(request, current) -> dict:
    """The JSON of a request just written, without reading it back."""
    return {
        "id": str(request.id),
        "district_id": request.district_id,
        "requester": {"id": str(request.requester_id), "name": request.requester_name,
                      "school_ids": list(request.school_ids)},
        "status": request.status,
        "submitted_at": _iso(request.submitted_at),
        "changes": [{"field": f, "current": current.get(f), "requested": v} for f, v in request.changes.items()],
        "note": request.note,
        "appears_applied": request.appears_applied,
        "done_at": _iso(request.done_at),
        "done_by": request.done_by,
        "version": request.version,
    }


# --- pages: the people themselves ------------------------------------------------------------
_PERSON = """id, district_id, sis_id, role, given_name, family_name, email, phone, sms, school_ids, active,
       district_admin, manager_scope, manager_school_ids"""


async def get_person(conn: asyncpg.Connection, user_id: UUID):
    return await conn.fetchrow(f"SELECT {_PERSON} FROM directory_user WHERE id = $1", user_id)


async def directory_page(conn: asyncpg.Connection, viewer: Viewer, *, q: str | None, school_id: str | None,
                         limit: int, cursor: str | None) -> tuple[list, str | None]:
    """People in the manager's scope, by family name (the Directory page)."""
    schools = viewer.schools_to_read(school_id or None)
    if schools == []:
        return [], None
    params: list = [viewer.district_id, limit]
    where = ["district_id = $1"]
    if schools is not None:
        params.append(schools)
        where.append(f"school_ids && ${len(params)}::text[]")
    if q and q.strip():
        params.append(_like_pattern(q.strip()))
        where.append(f"(given_name || ' ' || family_name) ILIKE ${len(params)}")
    if cursor:
        params += list(keyset.decode(cursor, (str, str, UUID)))
        n = len(params)
        where.append(f"(family_name, given_name, id) > (${n - 2}, ${n - 1}, ${n})")
    rows = await conn.fetch(f"SELECT {_PERSON} FROM directory_user WHERE {' AND '.join(where)} "
                            "ORDER BY family_name, given_name, id LIMIT $2", *params)
    if len(rows) < limit:
        return rows, None
    return rows, keyset.encode((rows[-1]["family_name"], rows[-1]["given_name"], rows[-1]["id"]))


async def demo_identities(conn: asyncpg.Connection, *, q: str | None, district_id: str | None,
                          per_district: int = 8, limit: int = 200) -> list:
    """For the development login: every active manager/admin, and a few other people per district."""
    params: list = [per_district, limit]
    where = ["active"]
    if district_id:
        params.append(district_id)
        where.append(f"district_id = ${len(params)}")
    if q and q.strip():
        params.append(_like_pattern(q.strip()))
        where.append(f"(given_name || ' ' || family_name) ILIKE ${len(params)}")
    return await conn.fetch(f"""SELECT {_PERSON} FROM (
    SELECT *, row_number() OVER (PARTITION BY district_id, (manager_scope IS NOT NULL OR district_admin)
                                 ORDER BY family_name, given_name, id) AS rank
    FROM directory_user WHERE {' AND '.join(where)}) AS people
WHERE manager_scope IS NOT NULL OR district_admin OR rank <= $1
ORDER BY district_id, (manager_scope IS NULL AND NOT district_admin), family_name, given_name, id
LIMIT $2""", *params)


async def districts(conn: asyncpg.Connection) -> list[str]:
    return [r["district_id"] for r in await conn.fetch("SELECT DISTINCT district_id FROM directory_user ORDER BY 1")]


async def district_policy(conn: asyncpg.Connection, district_id: str):
    return await conn.fetchrow("""SELECT profile_update_requests_enabled, contact_details_auto_update
FROM district_settings WHERE district_id = $1""", district_id)
