"""Manage Requests as a work queue, through HTTP against the real database and broker: tab counts,
pages both ways with "x–y of N", oldest-first order kept everywhere, date and field filters (and
their errors), and bulk Mark as Done / Restore with one POST, which never reaches the requester."""
from __future__ import annotations

import contextlib
import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from pur_kit.auth import SESSION_COOKIE
from pur_kit.testing import EventSpy, wait_until
from pur_kit.testing.browser import CHROMIUM, CHROMIUM_ARGS, need_chromium, served
from requests_service import views
from requests_service.domain.access import Viewer

API = "/api/v1/requests"


@contextlib.asynccontextmanager
async def signed_in(svc, person):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as client:
        r = await client.post("/login", data={"user_id": str(person.id)})
        client.cookies.set(SESSION_COOKIE, r.cookies[SESSION_COOKIE])
        yield client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return html.unescape(found.group(1)) if found else None


def range_of(page: str) -> str:
    return " ".join(re.search(r'<p class="range">(.*?)</p>', page, re.DOTALL).group(1).split())


def page_ids(page: str) -> list[str]:
    return re.findall(r'name="page_id" value="([0-9a-f-]+)"', page)


async def submit_many(svc, person, n: int, **body) -> list[str]:
    ids = []
    for i in range(n):
        r = await svc.client.post(API, json=body or {"note": f"n{i}"}, headers=svc.headers(person))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def outbox_drained(svc) -> None:
    await wait_until(lambda: _outbox_empty(svc), message="outbox drained")


async def _outbox_empty(svc) -> bool:
    return await svc.world.fetchval("SELECT count(*) FROM outbox_message") == 0


async def follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text
    for name in ("pur_flash", "pur_bulk"):
        if name in response.cookies:
            client.cookies.set(name, response.cookies[name])
    return await client.get(response.headers["location"])


async def test_a_bulk_mark_as_done_of_50_requests_is_one_post_50_histories_50_events_and_nothing_else(svc, cast):
    ids = await submit_many(svc, cast.requester_a, 50)
    await outbox_drained(svc)
    async with signed_in(svc, cast.manager_a) as b, \
            EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["#"]) as spy:
        page = await b.get("/manage-requests", params={"per": "50"})
        assert 'New <span class="count">(50)</span>' in page.text and range_of(page.text) == "1–50 of 50"
        assert sorted(page_ids(page.text)) == sorted(ids)
        r = await b.post("/manage-requests/bulk", data={
            "csrf": csrf_of(page.text), "action": "mark_done", "all_on_page": "1", "next": "/manage-requests?per=50",
            "page_id": page_ids(page.text)})
        after = await follow(b, r)
        assert "50 requests marked as done." in after.text and "No new requests." in after.text
        assert 'Marked as Done <span class="count">(50)</span>' in after.text

        await spy.wait_for(50)
        await outbox_drained(svc)
        # Nothing reaches the requester: the only messages are the 50 staff-facing request events,
        # one per request, carrying no requested value; no other routing key, no email, no copy.
        assert [m.type for m in spy.messages] == ["request.marked_done"] * 50
        events = spy.of_type("request.marked_done")
        assert sorted(e["request"]["id"] for e in events) == sorted(ids)
        assert {(e["request"]["status"], e["request"]["done_by"], e["version"]) for e in events} == {
            ("done", str(cast.manager_a.id), 2)}
    history = await svc.world.fetchval(
        "SELECT count(*) FROM request_history WHERE action = 'marked_done' AND by = $1 AND request_id = ANY($2::uuid[])",
        str(cast.manager_a.id), [uuid.UUID(i) for i in ids])
    assert history == 50


async def test_bulk_skips_what_is_already_done_or_out_of_scope_and_says_so(svc, cast):
    mine = await submit_many(svc, cast.requester_a, 3)
    theirs = await submit_many(svc, cast.requester_b, 1)   # school B: not manager A's
    async with signed_in(svc, cast.manager_a) as b:
        page = await b.get("/manage-requests")
        # one ticked box only: without "select all" only the ticked request changes
        r = await b.post("/manage-requests/bulk", data={"csrf": csrf_of(page.text), "action": "mark_done",
                                                       "id": [mine[0]], "page_id": page_ids(page.text)})
        assert "1 request marked as done." in (await follow(b, r)).text
        r = await b.post("/manage-requests/bulk", data={"csrf": csrf_of(page.text), "action": "mark_done",
                                                       "id": [*mine, *theirs, str(uuid.uuid4())]})
        after = await follow(b, r)
        assert ("2 requests marked as done. 1 was already done. 2 were not found or not in your scope."
                in after.text)
        assert await svc.world.fetchval("SELECT status FROM request WHERE id = $1", uuid.UUID(theirs[0])) == "new"

        done = await b.get("/manage-requests", params={"tab": "done"})
        assert "Restore selected" in done.text and "Mark selected as Done" not in done.text
        r = await b.post("/manage-requests/bulk", data={"csrf": csrf_of(done.text), "action": "restore",
                                                       "id": mine[:2]})
        assert "2 requests restored." in (await follow(b, r)).text

        # what the page never sends is refused, and nothing changes
        r = await b.post("/manage-requests/bulk", data={"csrf": csrf_of(done.text), "action": "restore",
                                                       "id": [str(uuid.uuid4()) for _ in range(101)]})
        assert "Select at most 100 requests at a time. Nothing was changed." in (await follow(b, r)).text
        r = await b.post("/manage-requests/bulk", data={"csrf": csrf_of(done.text), "action": "restore",
                                                       "id": ["not-an-id"]})
        assert "The selection was not valid" in (await follow(b, r)).text
        r = await b.post("/manage-requests/bulk", data={"csrf": csrf_of(done.text), "action": "delete",
                                                       "id": mine[:1]})
        assert "Nothing was changed." in (await follow(b, r)).text
        r = await b.post("/manage-requests/bulk", data={"action": "mark_done", "id": mine})   # no CSRF token
        assert r.status_code == 403
    statuses = [await svc.world.fetchval("SELECT status FROM request WHERE id = $1", uuid.UUID(i)) for i in mine]
    assert statuses == ["new", "new", "done"]


async def test_the_queue_is_oldest_first_with_counts_and_pages_both_ways_keeping_order_and_filters(svc, cast):
    ids = await submit_many(svc, cast.requester_a, 30)
    await submit_many(svc, cast.requester_b, 2)
    async with signed_in(svc, cast.district_manager) as b:
        first = (await b.get("/manage-requests", params={"school_id": "sch-a"})).text
        assert page_ids(first) == ids[:25]                      # the oldest first: the queue's order
        assert 'New <span class="count">(30)</span>' in first and 'All <span class="count">(30)</span>' in first
        assert range_of(first) == "1–25 of 30" and link(first, "prev") is None
        second = (await b.get(link(first, "next"))).text
        assert page_ids(second) == ids[25:] and range_of(second) == "26–30 of 30" and link(second, "next") is None
        back = (await b.get(link(second, "prev"))).text
        assert page_ids(back) == ids[:25] and range_of(back) == "1–25 of 30"

        newest = (await b.get("/manage-requests", params={"order": "newest", "school_id": "sch-a"})).text
        assert page_ids(newest) == ids[::-1][:25]
        # every form of the page (the bulk one and each row's) comes back to this very page
        assert set(re.findall(r'name="next" value="([^"]+)"', newest)) == {
            "/manage-requests?tab=new&amp;order=newest&amp;school_id=sch-a"}
        following = link(newest, "next")
        assert "order=newest" in following and "school_id=sch-a" in following
        assert page_ids((await b.get(following)).text) == ids[::-1][25:]
        nav = re.search(r'<nav class="tabs".*?</nav>', newest, re.DOTALL).group(0)
        tabs = re.findall(r'<a href="([^"]+)"', nav)
        assert len(tabs) == 3 and all("order=newest" in t and "school_id=sch-a" in t for t in tabs)

        everyone = (await b.get("/manage-requests")).text
        assert 'New <span class="count">(32)</span>' in everyone


async def test_date_and_field_filters_narrow_the_list_and_the_counts(svc, cast):
    email = await submit_many(svc, cast.requester_a, 2, changes={"email": "rita.new@example.org"})
    note = await submit_many(svc, cast.requester_a, 3)
    today = datetime.now(UTC).date()
    async with signed_in(svc, cast.manager_a) as b:
        r = await b.get("/manage-requests", params={"field": "email"})
        assert sorted(page_ids(r.text)) == sorted(email) and 'New <span class="count">(2)</span>' in r.text
        r = await b.get("/manage-requests", params={"field": "note_only"})
        assert sorted(page_ids(r.text)) == sorted(note) and range_of(r.text) == "1–3 of 3"
        r = await b.get("/manage-requests", params={"from": str(today), "to": str(today)})
        assert len(page_ids(r.text)) == 5
        r = await b.get("/manage-requests", params={"from": str(today + timedelta(days=1)), "field": "email"})
        assert page_ids(r.text) == [] and "No new requests match these filters." in r.text
        assert 'New <span class="count">(0)</span>' in r.text
        r = await b.get("/manage-requests", params={"to": str(today - timedelta(days=1))})
        assert page_ids(r.text) == []


async def test_counts_and_positions_hold_for_a_manager_of_two_schools_with_name_and_field_filters(svc, cast):
    both = await svc.world.user(cast.district, schools=["sch-a", "sch-b"], given="Tess", family="Twoschools")
    manager = await svc.world.user(cast.district, schools=["sch-a"], role="teacher", given="Mo", family="Multi",
                                   manager=["sch-a", "sch-b"])
    ids = await submit_many(svc, both, 27, changes={"email": "tess@example.org"})
    await submit_many(svc, cast.requester_b, 2)   # school B, a note: neither the name nor the field
    async with signed_in(svc, manager) as b:
        for params in ({"field": "email"}, {"q": "twoschools"}, {"q": "twoschools", "field": "email"}):
            first = (await b.get("/manage-requests", params=params)).text
            # in both of the manager's schools, and still counted once
            assert 'New <span class="count">(27)</span>' in first and range_of(first) == "1–25 of 27", params
            second = (await b.get(link(first, "next"))).text
            assert page_ids(second) == ids[25:] and range_of(second) == "26–27 of 27", params
        everything = (await b.get("/manage-requests", params={"order": "newest"})).text
        assert 'New <span class="count">(29)</span>' in everything
        assert range_of((await b.get(link(everything, "next"))).text) == "26–29 of 29"


async def test_bad_filters_answer_the_page_with_each_field_marked_and_explained(svc, cast):
    async with signed_in(svc, cast.manager_a) as b:
        for params, name in (({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"),
                             ({"from": "2026-03-02", "to": "2026-03-01"}, "to"), ({"field": "password"}, "field"),
                             ({"from": "2026-3-1"}, "from"), ({"from": "２０２６-03-01"}, "from")):
            r = await b.get("/manage-requests", params=params)
            assert r.status_code == 422, (params, r.status_code)
            assert 'role="alert"' in r.text
            control = re.search(rf'<(?:input|select)[^>]*id="f-{name}"[^>]*>', r.text).group(0)
            assert 'aria-invalid="true"' in control and f'aria-describedby="err-{name}"' in control, params
            assert re.search(rf'<span class="error" id="err-{name}">[^<]+</span>', r.text), params
            assert "<table" not in r.text   # no list under filters that cannot apply


async def test_a_field_filter_walks_and_counts_that_fields_partial_index(svc, cast):
    await submit_many(svc, cast.requester_a, 1, changes={"email": "rita.idx@example.org"})
    conn = await asyncpg.connect(svc.dsn)
    try:
        viewer = Viewer.of_user(user_id=cast.district_manager.id, district_id=cast.district, active=True,
                                manager_scope="district", manager_school_ids=[])
        query = views.scoped_query(viewer, status="all", field="email", order="oldest", limit=25)
        statements = []

        class Recorder:
            """The connection, keeping each statement read with its parameters."""

            async def fetch(self, sql, *args):
                statements.append((sql, args))
                return await conn.fetch(sql, *args)

            async def execute(self, sql, *args):
                return await conn.execute(sql, *args)

            def transaction(self):
                return conn.transaction()

        counts = await views.count_tabs(Recorder(), query)
        assert (counts.new, counts.done) == (1, 0)
        await views.page_of(Recorder(), query)
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")   # a tiny table: make the choice visible
            for sql, args in statements:
                plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *args))
                assert "ix_request_field_email" in plan, plan
    finally:
        await conn.close()


async def test_counts_are_exact_up_to_the_cap_and_shown_with_a_plus_beyond_it(svc, cast):
    await submit_many(svc, cast.requester_a, 4)
    conn = await asyncpg.connect(svc.dsn)
    try:
        viewer = Viewer.of_user(user_id=cast.manager_a.id, district_id=cast.district, active=True,
                                manager_scope="schools", manager_school_ids=["sch-a"])
        query = views.scoped_query(viewer, status="new", order="oldest", limit=25)
        counts = await views.count_tabs(conn, query, cap=3)
        assert (counts.new, counts.shown("new"), counts.shown("done"), counts.shown("all")) == (4, "3+", "0", "3+")
        exact = await views.count_tabs(conn, query)
        assert (exact.shown("new"), exact.shown("all")) == ("4", "4")
    finally:
        await conn.close()


@pytest.fixture
async def served_app(svc):
    """The running app behind a real uvicorn, for Chromium (as tests/browser does)."""
    async with served(svc.app) as base_url:
        yield base_url


def failed_into(failed: list[str]):
    def record(response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            failed.append(f"{response.status} {response.url}")
    return record


@pytest.mark.browser
async def test_select_all_ticks_the_rows_and_marks_the_page_done_in_chromium_with_and_without_script(
        svc, cast, served_app):
    need_chromium()
    from playwright.async_api import async_playwright, expect

    await submit_many(svc, cast.requester_a, 3)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for scripted in (True, False):
                context = await browser.new_context(java_script_enabled=scripted, viewport={"width": 390, "height": 844})
                page = await context.new_page()
                page.set_default_timeout(15_000)
                failed: list[str] = []   # the script and stylesheet load (CSP: their own origin)
                page.on("response", failed_into(failed))
                await page.goto(f"{served_app}/login")
                await page.get_by_role("button", name="Log in as Mia Alder").click()
                await page.goto(f"{served_app}/manage-requests?tab={'new' if scripted else 'done'}")
                boxes = page.get_by_role("checkbox", name="Select the request from Rita Requester")
                await expect(boxes).to_have_count(3)
                await page.get_by_role("checkbox", name="Select all on this page").check()
                if scripted:   # the script (allowed by the page's CSP) ticks every row
                    for n in range(3):
                        await expect(boxes.nth(n)).to_be_checked()
                    await page.get_by_role("button", name="Mark selected as Done").click()
                    await expect(page.get_by_role("status")).to_have_text("3 requests marked as done.")
                else:          # without it, "select all" alone still covers the page
                    await expect(boxes.nth(0)).not_to_be_checked()
                    await page.get_by_role("button", name="Restore selected").click()
                    await expect(page.get_by_role("status")).to_have_text("3 requests restored.")
                await expect(page.locator("tbody tr")).to_have_count(0)
                assert failed == []
                await context.close()
        finally:
            await browser.close()
