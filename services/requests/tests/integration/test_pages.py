"""The web pages through HTTP: login, menus, tabs, actions with CSRF, flash, escaping, errors."""
from __future__ import annotations

import contextlib
import re

import httpx
from pur_kit.auth import SESSION_COOKIE

API = "/api/v1/requests"


@contextlib.asynccontextmanager
async def browser(svc, person):
    """A client holding a session cookie, obtained through the development login form."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as client:
        r = await client.post("/login", data={"user_id": str(person.id)})
        assert r.status_code == 303, r.text
        cookie = r.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        client.cookies.set(SESSION_COOKIE, r.cookies[SESSION_COOKIE])
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


async def test_login_lists_demo_identities_and_redirects_managers_to_the_directory(svc, cast):
    r = await svc.client.get("/login")
    assert r.status_code == 200
    assert "Mia Alder" in r.text and "Dora District" in r.text and "Rita Requester" in r.text
    r = await svc.client.get("/login", params={"q": "alder"})
    assert "Mia Alder" in r.text and "Dora District" not in r.text
    r = await svc.client.post("/login", data={"user_id": str(cast.manager_a.id)})
    assert r.status_code == 303 and r.headers["location"] == "/directory"
    r = await svc.client.post("/login", data={"user_id": str(cast.requester_a.id)})
    assert r.headers["location"] == "/my-requests"
    r = await svc.client.post("/login", data={"user_id": "nobody"})
    assert r.status_code == 422


async def test_without_dev_login_there_is_no_login_page_and_pages_answer_401(svc, cast):
    svc.runtime.settings.dev_login = False
    try:
        assert (await svc.client.get("/login")).status_code == 404
        assert (await svc.client.post("/login", data={"user_id": str(cast.manager_a.id)})).status_code == 404
        r = await svc.client.get("/manage-requests")
        assert r.status_code == 401 and "sign in" in r.text
    finally:
        svc.runtime.settings.dev_login = True
    r = await svc.client.get("/manage-requests?tab=done")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fmanage-requests%3Ftab%3Ddone"
    svc.client.cookies.set(SESSION_COOKIE, "forged.token.value")
    try:
        assert (await svc.client.get("/directory")).status_code == 303
    finally:
        svc.client.cookies.clear()


async def test_the_directory_has_the_menu_leading_to_manage_requests(svc, cast):
    async with browser(svc, cast.manager_a) as b:
        r = await b.get("/directory")
        assert r.status_code == 200
        # its accessible name contains its visible text ("+👥 Directory actions", WCAG 2.5.3)
        assert ('<summary title="Directory actions">+👥<span class="visually-hidden"> Directory actions</span>'
                '</summary>') in r.text
        assert '<a href="/manage-requests">Manage Requests</a>' in r.text
        assert "Requester, Rita" in r.text and "Builder, Bob" not in r.text   # school A only
    async with browser(svc, cast.requester_a) as b:
        r = await b.get("/directory")
        assert r.status_code == 403 and "Users Manager" in r.text
        assert (await b.get("/manage-requests")).status_code == 403


async def test_manage_requests_tabs_actions_flash_and_post_redirect_get(svc, cast):
    r = await svc.client.post(API, json={"changes": {"email": "rita.n@example.org"}},
                              headers=svc.headers(cast.requester_a))
    rid = r.json()["id"]
    await svc.client.post(API, json={"note": "b"}, headers=svc.headers(cast.requester_b))
    async with browser(svc, cast.manager_a) as b:
        page = await b.get("/manage-requests")
        assert page.status_code == 200
        for header in ("Requester", "School", "Submitted", "Request", "Status", "Actions"):
            assert f'<th scope="col">{header}</th>' in page.text
        assert 'aria-current="page">New <span class="count">(1)</span></a>' in page.text
        assert 'Marked as Done <span class="count">(0)</span></a>' in page.text
        assert "Rita Requester" in page.text and "Bob Builder" not in page.text
        assert "Alder Elementary" in page.text and f'href="/manage-requests/{rid}">Email</a>' in page.text
        assert "Mark as Done" in page.text

        # a POST without the CSRF token is refused and changes nothing
        r = await b.post(f"/manage-requests/{rid}/mark-done", data={"next": "/manage-requests"})
        assert r.status_code == 403
        r = await b.post(f"/manage-requests/{rid}/mark-done",
                         data={"csrf": csrf_of(page.text), "next": "/manage-requests?tab=new"})
        assert r.status_code == 303 and r.headers["location"] == "/manage-requests?tab=new"
        b.cookies.set("pur_flash", r.cookies["pur_flash"])
        after = await b.get(r.headers["location"])
        assert "Request marked as done." in after.text
        assert "No new requests." in after.text
        assert "pur_flash" in after.headers.get("set-cookie", "")   # shown once, then deleted

        done = await b.get("/manage-requests", params={"tab": "done"})
        assert "Rita Requester" in done.text and "Restore Request" in done.text
        r = await b.post(f"/manage-requests/{rid}/restore",
                         data={"csrf": csrf_of(done.text), "next": "https://evil.example/"})
        assert r.status_code == 303 and r.headers["location"] == "/manage-requests"   # no open redirect
        b.cookies.set("pur_flash", r.cookies["pur_flash"])
        assert "Request restored." in (await b.get("/manage-requests")).text

        details = await b.get(f"/manage-requests/{rid}")
        assert details.status_code == 200
        assert "rita@example.org" in details.text and "rita.n@example.org" in details.text
        assert "Marked as done" in details.text and "Restored" in details.text and "Mia Alder" in details.text

    async with browser(svc, cast.manager_b) as b:
        assert (await b.get(f"/manage-requests/{rid}")).status_code == 404
        page = await b.get("/manage-requests")
        r = await b.post(f"/manage-requests/{rid}/mark-done", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 404


async def test_pagination_search_and_school_filter_on_the_page(svc, cast):
    for i in range(30):
        await svc.client.post(API, json={"note": f"n{i}"}, headers=svc.headers(cast.requester_a))
    async with browser(svc, cast.district_manager) as b:
        page = await b.get("/manage-requests")
        assert page.text.count("Mark as Done</button>") == 25
        next_url = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', page.text).group(1)
        second = await b.get(next_url.replace("&amp;", "&"))
        assert second.text.count("Mark as Done</button>") == 5 and "Next page" not in second.text
        assert "First page" in second.text
        assert "Rita Requester" not in (await b.get("/manage-requests", params={"q": "builder"})).text
        empty = await b.get("/manage-requests", params={"school_id": "sch-b"})
        assert "No new requests match these filters." in empty.text


async def test_html_in_names_and_notes_is_escaped_everywhere(svc, cast):
    w = svc.world
    evil = await w.user(cast.district, schools=["sch-a"], given="<script>alert(1)</script>", family="<b>X</b>")
    r = await svc.client.post(API, json={"note": "<script>alert('note')</script>",
                                         "changes": {"family_name": "<img src=x onerror=alert(2)>"}},
                              headers=svc.headers(evil))
    rid = r.json()["id"]
    async with browser(svc, cast.manager_a) as b:
        pages = [await b.get("/manage-requests"), await b.get(f"/manage-requests/{rid}"), await b.get("/directory"),
                 await b.get("/login", params={"q": "<script>"})]
    async with browser(svc, evil) as b:
        pages.append(await b.get("/my-requests"))
    for page in pages:
        assert "<script>alert" not in page.text and "<img src=x" not in page.text and "<b>X</b>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in pages[1].text
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[1].text


async def test_a_requester_submits_from_the_page_and_sees_errors_and_status(svc, cast):
    async with browser(svc, cast.requester_a) as b:
        page = await b.get("/my-requests")
        assert page.status_code == 200 and "Send request" in page.text and "Now: rita@example.org" in page.text
        form = {"csrf": csrf_of(page.text), "idempotency_key": "form-1", "email": "bad", "note": "x"}
        r = await b.post("/my-requests", data=form)
        assert r.status_code == 422 and 'role="alert"' in r.text and "Email: Enter a valid email address, like name@example.org." in r.text
        assert 'value="bad"' in r.text   # what they typed is kept
        form.update(email="rita.page@example.org")
        r = await b.post("/my-requests", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/my-requests"
        again = await b.post("/my-requests", data=form)   # a double click: same idempotency key
        assert again.status_code == 303
        b.cookies.set("pur_flash", r.cookies["pur_flash"])
        page = await b.get("/my-requests")
        assert "Your request was sent." in page.text and "rita.page@example.org" in page.text
        assert page.text.count('<span class="badge">New</span>') == 1

    await svc.world.settings(cast.district, enabled=False, contact_auto=True)
    async with browser(svc, cast.requester_a) as b:
        page = await b.get("/my-requests")
        assert "school office" in page.text and "Send request" not in page.text
        r = await b.post("/my-requests", data={"csrf": csrf_of(page.text), "note": "please"})
        assert r.status_code == 403 and "school office" in r.text


async def test_logout_clears_the_session(svc, cast):
    async with browser(svc, cast.manager_a) as b:
        page = await b.get("/directory")
        r = await b.post("/logout", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
