"""Read-side queries for the API and the pages (asyncpg, one statement per page of results).

Lists are keyset-paginated on (submitted_at, id), newest first (the API) or oldest first (the
Manage Requests queue), in both directions. Every list query walks an index in that order and stops
after `limit` rows, so a deep page costs what the first page costs; the tab counts are one index
scan of the viewer's scope. See README.md ("Indexes") for the plans and figures.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple
from uuid import UUID

import asyncpg
from pur_kit import cursor as keyset

from .domain.access import Viewer
from .domain.changes import FIELDS
from .domain.errors import NotAManager

STATUSES = {"new": ["new"], "done": ["done"], "all": ["new", "done"]}
ORDERS = ("oldest", "newest")
NOTE_ONLY = "note_only"   # the `field` filter of requests that change no field (a note alone)
# The field filter's conditions, written as constants (from FIELDS, never from input): each is the
# predicate of a partial index (migrations/versions/0003_manage_requests_queue.py) word for word;
# the planner uses one only when the statement holds that constant (a parameter would not prove it).
FIELD_CONDITIONS = {**{f: f"""r.changes @> '[{{"field": "{f}"}}]'::jsonb""" for f in FIELDS},
                    NOTE_ONLY: "r.changes = '[]'::jsonb"}

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
    order: str = "newest"             # newest | oldest (the queue order of the page)
    before: bool = False              # the page ending just before `cursor` (a "previous" link)
    submitted_from: datetime | None = None  # inclusive
    submitted_to: datetime | None = None    # exclusive
    field: str | None = None          # one of domain.changes.FIELDS, or NOTE_ONLY

    @property
    def walks_backward(self) -> bool:
        """Whether the index is walked newest-first: the newest-first order, or a previous page
        of the oldest-first one."""
        return (self.order == "newest") != self.before


def submitted_range(from_date: date | None, to_date: date | None,
                    tz: tzinfo = UTC) -> tuple[datetime | None, datetime | None]:
    """The instants [start, end) of the inclusive submitted-date filter `from_date`..`to_date`,
    each day taken in `tz` (the one place where the page's dates become instants)."""
    start = end = None
    if from_date is not None and from_date > date.min:
        start = datetime.combine(from_date, time(), tzinfo=tz)
    if to_date is not None and to_date < date.max:
        end = datetime.combine(to_date + timedelta(days=1), time(), tzinfo=tz)
    return start, end


def _filters(query: ListQuery, params: list, t: str) -> str:
    """The filters a page and its counts share, as `AND …` conditions (their parameters appended to
    `params`). Dates are on `t` (request or request_school: both carry submitted_at, an index
    condition of either walk); name and field are on the request `r`."""
    sql = ""
    if query.submitted_from is not None:
        params.append(query.submitted_from)
        sql += f" AND {t}.submitted_at >= ${len(params)}"
    if query.submitted_to is not None:
        params.append(query.submitted_to)
        sql += f" AND {t}.submitted_at < ${len(params)}"
    if query.q:
        params.append(_like_pattern(query.q))
        sql += f" AND r.requester_name ILIKE ${len(params)}"
    if query.field:
        sql += f" AND {FIELD_CONDITIONS[query.field]}"
    return sql


def _needs_request_row(query: ListQuery) -> bool:
    return bool(query.q or query.field)


def _school_join(query: ListQuery) -> str:
    """How a walk of request_school reaches the request row its name or field filter reads."""
    if not _needs_request_row(query):
        return ""
    if query.q:   # the planner may start from the trigram index (a rare name)
        return " JOIN request r ON r.id = rs.request_id"
    # One primary-key lookup per school row: LIMIT 1 keeps the planner from flattening it into a
    # hash join, which read the field's whole partial index (135,000 entries, 240 ms) to count 1,620.
    return " CROSS JOIN LATERAL (SELECT r.changes FROM request r WHERE r.id = rs.request_id LIMIT 1) AS r"


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page_sql(query: ListQuery, limit: int) -> tuple[str, list]:
    """The statement selecting one page of request ids, in walking order, and its parameters.

    Each (status) or (school, status) slice is walked through its index in the page's direction
    and stops after `limit` rows; the slices are merged. The filters sit inside each slice: dates
    are index conditions; a name search lets the planner either walk the slice with the filter (a
    common name: a few hundred rows to find 50) or start from the trigram index (a rare name) — see
    `_fetch` for the custom plans; a field filter is checked on the rows walked.
    """
    backward = query.walks_backward
    op, way = ("<", "DESC") if backward else (">", "ASC")
    params: list = [query.district_id, STATUSES[query.status], limit]
    after = ""
    if query.cursor is not None:
        params += [query.cursor.submitted_at, query.cursor.id]
        after = f" AND ({{t}}.submitted_at, {{t}}.{{id}}) {op} ($4, $5)"
    if query.school_ids is None:
        # (district_id, status, submitted_at, id), one range scan per status.
        filters = _filters(query, params, "r")
        return (f"""SELECT p.id, p.submitted_at FROM unnest($2::text[]) AS st(status)
CROSS JOIN LATERAL (
    SELECT r.id, r.submitted_at FROM request r
    WHERE r.district_id = $1 AND r.status = st.status{after.format(t="r", id="id")}{filters}
    ORDER BY r.submitted_at {way}, r.id {way} LIMIT $3) AS p
ORDER BY p.submitted_at {way}, p.id {way} LIMIT $3"""), params
    # request_school (district_id, school_id, status, submitted_at, request_id), one range scan per
    # (school, status), de-duplicated: a requester in two of the schools has two rows.
    filters = _filters(query, params, "rs")
    params.append(query.school_ids)
    join = _school_join(query)
    return (f"""SELECT DISTINCT p.id, p.submitted_at
FROM unnest(${len(params)}::text[]) AS sc(school_id) CROSS JOIN unnest($2::text[]) AS st(status)
CROSS JOIN LATERAL (
    SELECT rs.request_id AS id, rs.submitted_at FROM request_school rs{join}
    WHERE rs.district_id = $1 AND rs.school_id = sc.school_id AND rs.status = st.status\
{after.format(t="rs", id="request_id")}{filters}
    ORDER BY rs.submitted_at {way}, rs.request_id {way} LIMIT $3) AS p
ORDER BY p.submitted_at {way}, p.id {way} LIMIT $3"""), params


def scoped_query(viewer: Viewer, *, status: str = "new", school_id: str | None = None, q: str | None = None,
                 limit: int = 50, cursor: Cursor | None = None, district_id: str | None = None,
                 order: str = "newest", before: bool = False, submitted_from: datetime | None = None,
                 submitted_to: datetime | None = None, field: str | None = None) -> ListQuery | None:
    """The list query a viewer may run; None when its answer is empty by scope (another district)."""
    if not viewer.can_list:
        raise NotAManager("only Users Managers can list requests")
    if viewer.scope != "system" and district_id is not None and district_id != viewer.district_id:
        return None
    district = district_id or viewer.district_id
    if district is None:
        raise ValueError("a list belongs to one district")
    search = q.strip() if q else None
    if order not in ORDERS or (field and field not in FIELD_CONDITIONS):
        raise ValueError("order is oldest or newest; field is one of FIELDS or NOTE_ONLY")
    return ListQuery(district_id=district, status=status, school_ids=viewer.schools_to_read(school_id or None),
                     q=search or None, limit=limit, cursor=cursor, order=order, before=before,
                     submitted_from=submitted_from, submitted_to=submitted_to, field=field or None)


async def _fetch(conn: asyncpg.Connection, query: ListQuery, limit: int) -> list:
    """Up to `limit` rows of the query's page, in walking order."""
    page_sql, params = _page_sql(query, limit)
    way = "DESC" if query.walks_backward else "ASC"
    sql = f"""WITH page AS ({page_sql})
SELECT {_COLUMNS} FROM page JOIN request r ON r.id = page.id
LEFT JOIN directory_user u ON u.id = r.requester_id
ORDER BY r.submitted_at {way}, r.id {way}"""
    if query.q:
        # Whether to walk the tab or start from the trigram index depends on how common the name
        # fragment is; a cached generic plan cannot know, so searches are planned per execution.
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            return await conn.fetch(sql, *params)
    return await conn.fetch(sql, *params)


async def list_requests(conn: asyncpg.Connection, query: ListQuery) -> tuple[list, Cursor | None]:
    if query.school_ids == []:
        return [], None
    rows = await _fetch(conn, query, query.limit)
    following = Cursor(rows[-1]["submitted_at"], rows[-1]["id"]) if len(rows) == query.limit else None
    return rows, following


class Page(NamedTuple):
    """One page of a list, in display order, and the cursors of its neighbours (None: none)."""

    rows: list
    previous: Cursor | None   # the page before ends just before this one's first row (`before=`)
    following: Cursor | None  # the page after starts just after this one's last row (`cursor=`)


def _key(row) -> Cursor:
    return Cursor(row["submitted_at"], row["id"])


async def page_of(conn: asyncpg.Connection, query: ListQuery) -> Page:
    """A page with exact neighbours: one row more than the page is read in the walking direction.

    A previous page that comes back short (requests before it were marked done or restored since)
    is answered with the list's first page instead, so "previous" always lands on a full page.
    """
    if query.school_ids == []:
        return Page([], None, None)
    rows = await _fetch(conn, query, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    if query.before:
        if not more:
            return await page_of(conn, replace(query, cursor=None, before=False))
        rows.reverse()
        return Page(rows, _key(rows[0]), _key(rows[-1]))
    previous = _key(rows[0]) if rows and query.cursor is not None else None
    return Page(rows, previous, _key(rows[-1]) if more else None)


COUNT_CAP = 10_000


class TabCounts(NamedTuple):
    """How many requests each tab holds (scope and filters applied), and where a page starts.

    Each figure is exact up to `cap`; above it the count stopped at `cap + 1` (shown "10,000+"), so
    a count costs at most `cap` index entries per status, whatever the district's history.
    """

    new: int
    done: int
    ahead: int  # requests of the query's tab ahead of the page's first row, in the page's order
    cap: int = COUNT_CAP

    @property
    def all(self) -> int:
        return self.new + self.done

    def of(self, tab: str) -> int:
        return {"new": self.new, "done": self.done, "all": self.all}[tab]

    def is_exact(self, tab: str) -> bool:
        return all(n <= self.cap for n in ((self.new, self.done) if tab == "all" else (self.of(tab),)))

    def shown(self, tab: str) -> str:
        """The count of a tab as a page shows it: "1,234", or "10,000+" beyond the cap."""
        return f"{self.of(tab):,}" if self.is_exact(tab) else f"{self.cap:,}+"


async def count_tabs(conn: asyncpg.Connection, query: ListQuery, first: Cursor | None = None,
                     cap: int = COUNT_CAP) -> TabCounts:
    """The counts of every tab for the query's scope and filters (its status and cursor aside),
    and how many of its own tab come before `first` in its order, each up to `cap`: one statement.

    Every (status) or (school, status) slice is an index range scan stopped after `cap + 1` rows:
    index-only on (district_id, status, submitted_at, id) for a district-level manager, on
    request_school's index for a school-level one (distinct requests when there are several
    schools: a requester in two of them has two rows), and on the field's partial index when the
    field filter is set (0003_manage_requests_queue.py). A name filter reads the request rows it finds.
    """
    if query.school_ids == []:
        return TabCounts(0, 0, 0, cap)
    params: list = [query.district_id]
    ahead = ""
    if first is not None:
        params += [STATUSES[query.status], first.submitted_at, first.id]
        ahead = " AND ({t}.submitted_at, {t}.{id}) " + (">" if query.order == "newest" else "<") + " ($3, $4)"
    if query.school_ids is None:
        filters = _filters(query, params, "r")
        slices = "{} AS st(status)"

        def slice_sql(after: str) -> str:
            return f"""SELECT r.id FROM request r
        WHERE r.district_id = $1 AND r.status = st.status{filters}{after} LIMIT {cap + 1}"""
        ahead, n = ahead.format(t="r", id="id"), "count(*)"
    else:
        filters = _filters(query, params, "rs")
        params.append(query.school_ids)
        join = _school_join(query)
        slices = f"unnest(${len(params)}::text[]) AS sc(school_id) CROSS JOIN {{}} AS st(status)"

        def slice_sql(after: str) -> str:
            return f"""SELECT rs.request_id AS id FROM request_school rs{join}
        WHERE rs.district_id = $1 AND rs.school_id = sc.school_id AND rs.status = st.status{filters}{after}
        LIMIT {cap + 1}"""
        ahead = ahead.format(t="rs", id="request_id")
        n = "count(*)" if len(query.school_ids) == 1 else "count(DISTINCT s.id)"
    parts = [f"""SELECT 'tab' AS kind, st.status, {n} AS n FROM {slices.format("unnest('{new,done}'::text[])")}
    CROSS JOIN LATERAL ({slice_sql("")}) AS s GROUP BY st.status"""]
    if first is not None:
        parts.append(f"""SELECT 'ahead', st.status, {n} FROM {slices.format("unnest($2::text[])")}
    CROSS JOIN LATERAL ({slice_sql(ahead)}) AS s GROUP BY st.status""")
    sql = "\nUNION ALL\n".join(parts)
    # A name search (3 characters or more: shorter ones match densely, the capped walks suit them),
    # and a field filter within schools, are counted in one pass instead (`_one_pass_counts_sql`).
    if (query.q and len(query.q) >= 3) or (query.field and query.school_ids is not None):
        sql = _one_pass_counts_sql(query, params, ahead, filters)
    # The planner's estimates for these lateral walks reach the JIT threshold; compiling cost 30 ms
    # for a statement that runs in a few. A name search is planned per execution (see `_fetch`).
    settings = "SET LOCAL jit = off" + ("; SET LOCAL plan_cache_mode = force_custom_plan" if query.q else "")
    async with conn.transaction():
        await conn.execute(settings)
        rows = await conn.fetch(sql, *params)
    found = {(row["kind"], row["status"]): min(row["n"], cap + 1) for row in rows}
    return TabCounts(found.get(("tab", "new"), 0), found.get(("tab", "done"), 0),
                     min(sum(found.get(("ahead", s), 0) for s in STATUSES[query.status]), cap + 1), cap)


def _one_pass_counts_sql(query: ListQuery, params: list, ahead: str, filters: str) -> str:
    """Counts in one pass over what the filters find, exact, joined as the planner chooses per
    execution: a name search from the trigram index (a rare name) or along the scope (a common one);
    a school-level field filter as a hash join of the schools' index entries with the field's
    partial index, both index-only. Sliced per (school, status) like the other counts, a search
    was redone in every slice (six bitmap scans of 19,000 matches for a three-school manager,
    240 ms) and a field filter looked up every request of the schools (18,000, 95 ms)."""
    ahead_n = "0" if not ahead else f"count(DISTINCT {{id}}) FILTER (WHERE {{t}}.status = ANY($2){ahead})"
    if query.school_ids is None:
        counted = f"""SELECT r.status, count(*) AS n, {ahead_n.format(id="r.id", t="r")} AS ahead FROM request r
    WHERE r.district_id = $1 AND r.status IN ('new', 'done'){filters} GROUP BY r.status"""
    else:
        counted = f"""SELECT rs.status, count(DISTINCT rs.request_id) AS n,
        {ahead_n.format(id="rs.request_id", t="rs")} AS ahead
    FROM request_school rs JOIN request r ON r.id = rs.request_id AND r.district_id = $1 AND r.status = rs.status
    WHERE rs.district_id = $1 AND rs.school_id = ANY(${len(params)}::text[]) AND rs.status IN ('new', 'done')
      {filters} GROUP BY rs.status"""
    return f"""SELECT k.kind, c.status, k.n FROM ({counted}) AS c
CROSS JOIN LATERAL (VALUES ('tab', c.n), ('ahead', c.ahead)) AS k(kind, n)"""


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
    """A person, with their district's time zone (None until its settings are known here)."""
    return await conn.fetchrow(f"""SELECT {_PERSON},
       (SELECT s.timezone FROM district_settings s WHERE s.district_id = u.district_id) AS timezone
FROM directory_user u WHERE id = $1""", user_id)


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
    return await conn.fetch(f"""SELECT {_PERSON},
       ARRAY(SELECT s.name FROM school s WHERE s.district_id = people.district_id AND s.id = ANY(people.school_ids)
             ORDER BY s.name) AS school_names
FROM (
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


async def district_timezone(conn: asyncpg.Connection, district_id: str) -> str | None:
    """The district's time zone from its settings; None until they are known (or set)."""
    return await conn.fetchval("SELECT timezone FROM district_settings WHERE district_id = $1", district_id)


async def has_people(conn: asyncpg.Connection, district_id: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM directory_user WHERE district_id = $1)", district_id)
