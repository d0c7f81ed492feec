"""Manage Requests queue: tab counts, first and deep pages, filters, at a large district's volume,
against the page as it cost before the counts, measured in the same run.

    .venv/bin/python bench/bench_manage_queue.py [--scale 1.0] [--runs 100] [--explain]

- Data (`--scale 1`): one district of 40,000 people in 20 schools with ~120,000 requests (~12,000
  New) among ~500,000 requests in five districts, loaded with bench_requests.py's generator
  (`seed_projections`, `bulk_load_requests`: 10% New, two years of submissions, 5% of people in two
  schools); then ~76% of the requests are moved to four other districts and the requested fields
  mixed (phone 35%, email 25%, family/given name 10% each, SMS 8%, two fields 2%, note only 10%);
  VACUUM FULL, VACUUM ANALYZE. `--scale 0.1` is a quick run (a tenth of the people and requests).
- Calls: the page's own, through requests_service.views on one connection set up as the
  service's pool sets them up: `scoped_query` (oldest first, 25 a page), `page_of`, `count_tabs`.
  For a district-level and a three-school Users Manager: New and All tabs, a page ~90% down the New
  tab (keyset cursor; its counts include "how many come before it"), the email field filter, the
  last year as a date range, and a name search. Each case is timed three ways: the counts alone, the
  page alone, and the page as served (both in one repeatable-read read-only transaction).
- Baseline, in the same run and interleaved with the cases: the New tab's first page without counts
  (`page_of` alone), which is what the page cost before the counts. The report gives each served
  page as a ratio to it.
Every case runs `--runs` times, round-robin over the cases so all see the same machine noise;
medians and p99 (with fewer than 100 runs, the p99 is the maximum). Prints the table, writes it to
bench/out/manage_queue.md; `--explain` also prints EXPLAIN (ANALYZE, BUFFERS) of each count
statement. Asserts nothing. Creates and always drops its own database `pur_bench_queue_*`.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_requests as gen  # the data generator, shared

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "manage_queue.md"
SEARCH = "okafor"  # a family name of 1 person in 26 (the generator's names)

# Moves ~76% of the requests (by a hash of their id) to four other districts, and mixes the
# requested fields; request_school follows its request.
_SPREAD = ["""UPDATE request SET district_id = CASE WHEN h < 24 THEN district_id ELSE 'other' || (h % 4) END,
    changes = CASE
        WHEN f < 35 THEN '[{"field":"phone","requested":"+15555550111"}]'
        WHEN f < 60 THEN '[{"field":"email","requested":"x@example.org"}]'
        WHEN f < 70 THEN '[{"field":"family_name","requested":"Newname"}]'
        WHEN f < 80 THEN '[{"field":"given_name","requested":"Newgiven"}]'
        WHEN f < 88 THEN '[{"field":"sms","requested":"+15555550112"}]'
        WHEN f < 90 THEN '[{"field":"email","requested":"y@example.org"},{"field":"phone","requested":"+15555550113"}]'
        ELSE '[]' END::jsonb,
    note = CASE WHEN f >= 90 THEN 'please fix' END
FROM (SELECT id AS rid, abs(hashtext(id::text)) % 100 AS h, abs(hashtext(id::text || 'f')) % 100 AS f
      FROM request) AS k WHERE k.rid = request.id""",
           """UPDATE request_school rs SET district_id = r.district_id FROM request r
WHERE r.id = rs.request_id AND r.district_id <> rs.district_id""",
           "VACUUM FULL request", "VACUUM FULL request_school",
           # VACUUM FULL leaves the visibility map empty: without this, no scan would be index-only
           "VACUUM (ANALYZE) request", "VACUUM (ANALYZE) request_school"]


async def seed(dsn: str, people: int, rows: int) -> tuple[list, float]:
    started = time.perf_counter()
    users, managers = await gen.seed_projections(dsn, people)
    await gen.bulk_load_requests(dsn, users, rows)
    conn = await asyncpg.connect(dsn)
    try:
        for statement in _SPREAD:
            await conn.execute(statement)
    finally:
        await conn.close()
    return managers, time.perf_counter() - started


class Capture:
    """A connection that remembers the statements sent through it (for --explain)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.sent = conn, []

    async def execute(self, sql: str, *args):
        self.sent.append(("execute", sql, args))
        return await self.conn.execute(sql, *args)

    async def fetch(self, sql: str, *args):
        self.sent.append(("fetch", sql, args))
        return await self.conn.fetch(sql, *args)

    def transaction(self, **kw):
        return self.conn.transaction(**kw)


@dataclass
class Case:
    manager: str
    label: str
    query: Any                 # views.ListQuery
    first: Any = None          # views.Cursor of the page's first row when it is not the first page
    counts: Any = None         # views.TabCounts, for the table
    times: dict[str, list[float]] = field(default_factory=dict)


async def deep_cursor(conn, views, query) -> tuple[Any, int]:
    """The keyset position ~90% down the query's tab, in its (oldest-first) order."""
    if query.school_ids is None:
        n = await conn.fetchval("SELECT count(*) FROM request WHERE district_id = $1 AND status = 'new'",
                                query.district_id)
        row = await conn.fetchrow("""SELECT submitted_at, id FROM request WHERE district_id = $1 AND status = 'new'
            ORDER BY submitted_at, id OFFSET $2 LIMIT 1""", query.district_id, int(n * 0.9))
    else:
        n = await conn.fetchval("""SELECT count(DISTINCT request_id) FROM request_school
            WHERE district_id = $1 AND school_id = ANY($2::text[]) AND status = 'new'""",
                                query.district_id, query.school_ids)
        row = await conn.fetchrow("""SELECT DISTINCT submitted_at, request_id AS id FROM request_school
            WHERE district_id = $1 AND school_id = ANY($2::text[]) AND status = 'new'
            ORDER BY submitted_at, request_id OFFSET $3 LIMIT 1""", query.district_id, query.school_ids, int(n * 0.9))
    return views.Cursor(row["submitted_at"], row["id"]), int(n * 0.9)


async def build_cases(conn, managers, per_page: int) -> list[Case]:
    from requests_service import views
    from requests_service.domain.access import Viewer

    today = datetime.now(UTC).date()
    start, end = views.submitted_range(date(today.year - 1, today.month, min(today.day, 28)), today)
    cases = []
    for label, mid, scope, schools in managers:
        if label == "school (1 school)":
            continue
        who = "district" if scope == "district" else "3 schools"
        viewer = Viewer.of_user(user_id=mid, district_id=gen.DISTRICT, active=True, manager_scope=scope,
                                manager_school_ids=schools)
        q = functools.partial(views.scoped_query, viewer, limit=per_page, order="oldest")

        new = q(status="new")
        cursor, down = await deep_cursor(conn, views, new)
        deep_page = await views.page_of(conn, replace(new, cursor=cursor))
        cases += [Case(who, "New tab, first page", new),
                  Case(who, "All tab, first page", q(status="all")),
                  Case(who, f"New tab, deep page (~{down:,} rows down)", replace(new, cursor=cursor),
                       first=views.Cursor(deep_page.rows[0]["submitted_at"], deep_page.rows[0]["id"])),
                  Case(who, "All tab, field email", q(status="all", field="email")),
                  Case(who, "All tab, submitted in the last year", q(status="all", submitted_from=start,
                                                                      submitted_to=end)),
                  Case(who, f"All tab, name search '{SEARCH}'", q(status="all", q=SEARCH))]
    return cases


async def served(conn, views, case: Case) -> None:
    """What the Manage Requests route does with the connection (ui_manage.manage_requests)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        page = await views.page_of(conn, case.query)
        first = views.Cursor(page.rows[0]["submitted_at"], page.rows[0]["id"]) if page.previous else None
        await views.count_tabs(conn, case.query, first)


async def measure(conn, cases: list[Case], runs: int) -> None:
    from requests_service import views

    async def timed(call, *args) -> float:
        t0 = time.perf_counter()
        await call(*args)
        return (time.perf_counter() - t0) * 1000

    for case in cases:  # warm the plans and the caches; keep the counts for the table
        for _ in range(3):
            await served(conn, views, case)
        case.counts = await views.count_tabs(conn, case.query, case.first)
        case.times = {"counts": [], "page": [], "served": []}
    for _ in range(runs):
        for case in cases:
            case.times["counts"].append(await timed(views.count_tabs, conn, case.query, case.first))
            case.times["page"].append(await timed(views.page_of, conn, case.query))
            case.times["served"].append(await timed(served, conn, views, case))


def p50(ms: list[float]) -> float:
    return statistics.median(ms)


def p99(ms: list[float]) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(cases: list[Case], header: str, runs: int) -> str:
    baselines = {c.manager: p50(c.times["page"]) for c in cases if c.label == "New tab, first page"}
    lines = [header, "",
             (f"Milliseconds, median / p99 of {runs} runs. Baseline: the New tab's first page without counts "
              "(`page_of` alone, what the page cost before the counts); ratio = page as served / baseline."), "",
             "| manager | case | New / All (as shown) | counts | page | page as served (page + counts) | ratio |",
             "|---|---|---|---|---|---|---|"]
    for c in cases:
        t = c.times
        shown = f"{c.counts.shown('new')} / {c.counts.shown('all')}"
        lines.append(f"| {c.manager} | {c.label} | {shown} | {p50(t['counts']):.1f} / {p99(t['counts']):.1f} | "
                     f"{p50(t['page']):.1f} / {p99(t['page']):.1f} | {p50(t['served']):.1f} / {p99(t['served']):.1f} | "
                     f"{p50(t['served']) / baselines[c.manager]:.1f}x |")
    for manager, base in baselines.items():
        first = next(c for c in cases if c.manager == manager and c.label == "New tab, first page")
        lines.append("")
        lines.append(f"{manager}: the New tab's first page costs {base:.1f} ms without counts and "
                     f"{p50(first.times['served']):.1f} ms as served: the counts add "
                     f"{p50(first.times['served']) - base:.1f} ms ({p50(first.times['served']) / base:.1f}x).")
    return "\n".join(lines) + "\n"


async def explain(conn, cases: list[Case]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each case's count statement, with the settings count_tabs uses."""
    from requests_service import views

    for case in cases:
        capture = Capture(conn)
        await views.count_tabs(capture, case.query, case.first)
        settings = [sql for kind, sql, _ in capture.sent if kind == "execute"]
        _, sql, args = next(s for s in capture.sent if s[0] == "fetch")
        async with conn.transaction():
            for statement in settings:
                await conn.execute(statement)
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        print(f"\n--- {case.manager}, {case.label}: count statement ({'; '.join(settings)})")
        print("\n".join("    " + r[0] for r in plan))


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value
    return parse


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=positive(float), default=1.0, help="1: 40,000 people, 500,000 requests")
    parser.add_argument("--runs", type=positive(int), default=100)
    parser.add_argument("--per-page", type=positive(int), default=25)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    from pur_kit.db import with_database
    from pur_kit.migrations import drop_database, ensure_database, upgrade
    from pur_kit.uow import _init_connection, connect_options

    people, rows = int(40_000 * args.scale), int(500_000 * args.scale)
    url = with_database(gen.ADMIN_URL, f"pur_bench_queue_{uuid.uuid4().hex[:8]}")
    conn = None
    try:
        await ensure_database(url)
        await upgrade(ROOT / "services" / "requests", url)
        dsn = gen.dsn_of(url)
        managers, seconds = await seed(dsn, people, rows)
        conn = await asyncpg.connect(dsn, **connect_options(pooled=False))
        await _init_connection(conn)
        total = await conn.fetchval("SELECT count(*) FROM request")
        mine = await conn.fetch("SELECT status, count(*) AS n FROM request WHERE district_id = $1 GROUP BY status",
                                gen.DISTRICT)
        by_status = {r["status"]: r["n"] for r in mine}
        header = (f"Manage Requests queue, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} "
                  f"({len(os.sched_getaffinity(0))} cores): `--scale {args.scale} --runs {args.runs}`. "
                  f"District of {people:,} people in {len(gen.SCHOOLS)} schools with "
                  f"{sum(by_status.values()):,} requests ({by_status.get('new', 0):,} New) among {total:,} "
                  f"in five districts (seeded in {seconds:.0f} s); {args.per_page} a page, oldest first.")
        cases = await build_cases(conn, managers, args.per_page)
        await measure(conn, cases, args.runs)
        table = report(cases, header, args.runs)
        print(table)
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(table)
        print(f"written to {OUT.relative_to(ROOT)}")
        if args.explain:
            await explain(conn, cases)
    finally:
        if conn is not None:
            await conn.close()
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
