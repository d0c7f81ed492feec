"""One-click unsubscribe (RFC 8058) and the manager's own subscription, over real HTTP (uvicorn), a
real SMTP server (aiosmtpd), RabbitMQ and PostgreSQL: the link in an email opts its manager out,
later runs skip them (and only them), a GET changes nothing, forged links are refused, and the
manager can subscribe again."""
from __future__ import annotations

import os
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
from pur_kit.auth import SESSION_COOKIE, PurposeTokens, csrf_token, mint_token
from pur_kit.config import DEV_JWT_SECRET

RUN = "/api/v1/digests/run"
SUBSCRIPTION = "/api/v1/digest/subscription"
ONE_CLICK_BODY = b"List-Unsubscribe=One-Click"
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def run(svc, district: str) -> dict:
    r = await svc.client.post(RUN, json={"district_id": district}, headers=svc.system)
    assert r.status_code == 200, r.text
    return r.json()


def reasons(result: dict) -> dict[str, str | None]:
    return {d["recipient_id"]: d["reason"] or d["status"] for d in result["runs"][0]["deliveries"]}


def unsubscribe_url(message) -> str:
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (url,) = re.fullmatch(r"<(http[^<>\s]+)>", str(message["List-Unsubscribe"])).groups()
    return url


async def subscription(svc, user) -> dict:
    r = await svc.client.get(SUBSCRIPTION, headers=svc.headers(user))
    assert r.status_code == 200, r.text
    return r.json()


async def mail_client_post(url: str, **kwargs) -> httpx.Response:
    """What a mail client does (RFC 8058 §3.1): a POST to the URL, no cookie, no credential."""
    async with httpx.AsyncClient() as client:   # a fresh client: no cookie jar, no auth header
        kwargs.setdefault("content", ONE_CLICK_BODY)
        kwargs.setdefault("headers", FORM)
        return await client.post(url, **kwargs)


async def test_the_one_click_link_of_an_email_unsubscribes_its_manager_and_the_next_run_skips_only_them(
        svc, cast, http_server):
    await run(svc, cast.district)
    (message,) = svc.mailbox.to(cast.manager_a.email)
    url = unsubscribe_url(message)
    assert url.startswith(f"{http_server}/api/v1/digest/unsubscribe?token=")
    assert (await subscription(svc, cast.manager_a))["subscribed"] is True

    r = await mail_client_post(url)
    assert r.status_code == 200 and r.json() == {"subscribed": False}
    mine = await subscription(svc, cast.manager_a)
    assert mine["subscribed"] is False and mine["via"] == "email_link" and mine["changed_at"]
    assert mine["users_manager"] is True and mine["district_digest_on"] is True
    assert (await subscription(svc, cast.manager_b))["subscribed"] is True   # only the link's manager

    # Mail clients may POST again, as multipart or with no body: the same answer, nothing changes.
    again = await mail_client_post(url, content=None, headers=None,
                                   files={"List-Unsubscribe": (None, "One-Click")})
    empty = await mail_client_post(url, content=b"", headers={})
    assert (again.status_code, empty.status_code) == (200, 200)
    assert (await subscription(svc, cast.manager_a))["changed_at"] == mine["changed_at"]

    svc.clock.advance(timedelta(days=1))
    svc.mailbox.messages.clear()
    result = await run(svc, cast.district)
    assert svc.mailbox.to(cast.manager_a.email) == []
    assert reasons(result)[str(cast.manager_a.id)] == "unsubscribed"
    assert set(svc.mailbox.count_by_recipient()) == {cast.manager_b.email, cast.district_manager.email}
    log = (await svc.client.get("/api/v1/digests", params={"district_id": cast.district, "date": result["runs"][0][
        "local_date"]}, headers=svc.system)).json()
    assert str(cast.manager_a.id) not in {i["recipient"]["id"] for i in log["items"]}


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.inputs: dict[str, str] = {}
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(attrs)
        elif tag == "input":
            self.inputs[attrs.get("name")] = attrs.get("value")
        elif tag == "script":
            self.scripts += 1


async def test_a_get_on_the_link_changes_nothing_and_shows_a_button_that_posts_it(svc, cast, http_server):
    await run(svc, cast.district)
    url = unsubscribe_url(svc.mailbox.to(cast.manager_a.email)[0])
    async with httpx.AsyncClient() as browser:
        for _ in range(3):   # a link scanner, a preview, a person
            page = await browser.get(url, headers={"accept": "text/html"})
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert (await subscription(svc, cast.manager_a))["subscribed"] is True
        assert page.headers["referrer-policy"] == "no-referrer" and "set-cookie" not in page.headers
        assert "form-action 'self'" in page.headers["content-security-policy"]
        form = _Form()
        form.feed(page.text)
        assert form.scripts == 0 and len(form.forms) == 1 and form.forms[0]["method"] == "post"
        assert form.inputs == {"List-Unsubscribe": "One-Click"}
        action = urljoin(url, form.forms[0]["action"])
        assert parse_qs(urlsplit(action).query) == parse_qs(urlsplit(url).query)   # the same token
        assert "http://requests.test/notifications" in page.text

        # the button: the browser posts the form and shows a page, not JSON
        done = await browser.post(action, data=form.inputs, headers={"accept": "text/html,*/*;q=0.8"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert (await subscription(svc, cast.manager_a))["subscribed"] is False


async def test_forged_tampered_and_other_purpose_tokens_are_refused(svc, cast, http_server):
    await run(svc, cast.district)
    url = unsubscribe_url(svc.mailbox.to(cast.manager_a.email)[0])
    token = parse_qs(urlsplit(url).query)["token"][0]
    header, _, signature = token.split(".")
    manager = str(cast.manager_a.id)
    claims = {"purpose": "digest-unsubscribe", "sub": manager, "district_id": cast.district, "iat": 1}
    bad_tokens = {
        "a session token of the manager": mint_token(DEV_JWT_SECRET, sub=manager, district_id=cast.district),
        "the system credential": mint_token(DEV_JWT_SECRET, sub="system", system=True),
        "another purpose": PurposeTokens(DEV_JWT_SECRET, "password-reset").mint(manager, cast.district),
        "the claims signed with the shared secret": jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256"),
        "another secret": PurposeTokens("x" * 40, "digest-unsubscribe").mint(manager, cast.district),
        "another manager's claims under this signature": ".".join(
            [header, jwt.utils.base64url_encode(jwt.utils.force_bytes(
                f'{{"purpose":"digest-unsubscribe","sub":"{cast.manager_b.id}","iat":1}}')).decode(), signature]),
        "no subject that is a user id": PurposeTokens(DEV_JWT_SECRET, "digest-unsubscribe").mint("x", cast.district),
        "garbage": "not-a-token",
    }
    base = url.split("?", 1)[0]
    async with httpx.AsyncClient() as client:
        for what, bad in bad_tokens.items():
            r = await client.post(base, params={"token": bad}, content=ONE_CLICK_BODY, headers=FORM)
            assert r.status_code == 400, what
            assert r.json()["error"]["code"] == "invalid_token", what
            page = await client.get(base, params={"token": bad})
            assert page.status_code == 400 and "not valid" in page.text and "<form" not in page.text, what
        missing = await client.post(base, content=ONE_CLICK_BODY, headers=FORM)
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "token"
        # the email's token is no credential for the API
        r = await client.get(f"{http_server}{SUBSCRIPTION}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
    for user in (cast.manager_a, cast.manager_b):
        assert (await subscription(svc, user))["subscribed"] is True


async def test_a_manager_subscribes_again_and_the_next_run_sends_to_them_again(svc, cast, http_server):
    await run(svc, cast.district)
    assert (await mail_client_post(unsubscribe_url(svc.mailbox.to(cast.manager_a.email)[0]))).status_code == 200
    svc.clock.advance(timedelta(days=1))
    assert reasons(await run(svc, cast.district))[str(cast.manager_a.id)] == "unsubscribed"

    r = await svc.client.put(SUBSCRIPTION, json={"subscribed": True}, headers=svc.headers(cast.manager_a))
    assert r.status_code == 200 and r.json()["subscribed"] is True and r.json()["via"] is None
    svc.clock.advance(timedelta(days=1))
    svc.mailbox.messages.clear()
    result = await run(svc, cast.district)
    assert reasons(result)[str(cast.manager_a.id)] == "sent"
    assert len(svc.mailbox.to(cast.manager_a.email)) == 1


async def test_the_subscription_api_is_the_callers_own_and_needs_a_person(svc, cast):
    mia = svc.headers(cast.manager_a)
    off = await svc.client.put(SUBSCRIPTION, json={"subscribed": False}, headers=mia)
    assert off.status_code == 200 and off.json()["subscribed"] is False and off.json()["via"] == "api"
    again = await svc.client.put(SUBSCRIPTION, json={"subscribed": False}, headers=mia)   # idempotent
    assert again.json() == off.json()
    assert (await subscription(svc, cast.manager_b))["subscribed"] is True
    pupil = await subscription(svc, cast.pupil_a)
    assert pupil["subscribed"] is True and pupil["users_manager"] is False

    assert (await svc.client.get(SUBSCRIPTION)).status_code == 401
    assert (await svc.client.put(SUBSCRIPTION, json={"subscribed": True})).status_code == 401
    system = await svc.client.get(SUBSCRIPTION, headers=svc.system)
    assert system.status_code == 403 and system.json()["error"]["code"] == "forbidden"
    for body in ({"subscribed": "yes"}, {}, {"subscribed": True, "other": 1}, []):
        bad = await svc.client.put(SUBSCRIPTION, json=body, headers=mia)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error", body

    # the staff app's page: the session cookie reads; a change needs its X-CSRF-Token too
    session = mint_token(DEV_JWT_SECRET, sub=str(cast.manager_a.id), district_id=cast.district)
    svc.client.cookies.set(SESSION_COOKIE, session)
    try:
        assert (await svc.client.get(SUBSCRIPTION)).json()["subscribed"] is False
        forged = await svc.client.put(SUBSCRIPTION, json={"subscribed": True})
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
        on = await svc.client.put(SUBSCRIPTION, json={"subscribed": True},
                                  headers={"X-CSRF-Token": csrf_token(DEV_JWT_SECRET, session)})
        assert on.status_code == 200 and on.json()["subscribed"] is True
    finally:
        svc.client.cookies.clear()


@pytest.mark.browser
async def test_in_chromium_the_link_shows_a_button_and_only_the_button_unsubscribes(svc, cast, http_server):
    """The page works under its Content-Security-Policy in a real browser (no script: a plain form)."""
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        reason = f"{chromium} is missing (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.async_api import async_playwright, expect

    await run(svc, cast.district)
    url = unsubscribe_url(svc.mailbox.to(cast.manager_a.email)[0])
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            page.set_default_timeout(15_000)
            blocked: list[str] = []
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            await page.goto(url)
            await expect(page.get_by_role("heading", name="Unsubscribe from the daily digest?")).to_be_visible()
            assert (await subscription(svc, cast.manager_a))["subscribed"] is True
            await page.get_by_role("button", name="Unsubscribe").click()
            await expect(page.get_by_role("status")).to_have_text("You are unsubscribed")
            assert blocked == []
        finally:
            await browser.close()
    assert (await subscription(svc, cast.manager_a))["subscribed"] is False
