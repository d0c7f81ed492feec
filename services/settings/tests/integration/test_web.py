import re

import httpx
from pur_kit.auth import SESSION_COOKIE

LABEL = "Allow Users to Send Profile Update Requests"
NOTE = "This toggle is turned off by default."


def page_url(district: str) -> str:
    return f"/districts/{district}/settings"


def hidden(html: str, name: str) -> str:
    return re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html).group(1)


def input_tag(html: str, element_id: str) -> str:
    return re.search(rf'<input [^>]*id="{element_id}"[^>]*>', html).group(0)


def form_of(html: str, **overrides) -> dict:
    """What a browser would post: checked boxes, the text fields, the hidden fields."""
    fields = {"csrf": hidden(html, "csrf"), "version": hidden(html, "version")}
    for box in ("profile_update_requests_enabled", "daily_digest_enabled", "contact_details_auto_update"):
        if " checked" in input_tag(html, box):
            fields[box] = "on"
    for text in ("digest_local_time", "timezone"):
        fields[text] = re.search(r'value="([^"]*)"', input_tag(html, text)).group(1)
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


async def test_without_a_session_the_page_asks_to_sign_in_at_the_requests_service(svc):
    async with svc.browser(None) as browser:
        r = await browser.get(page_url(svc.new_district()))
    assert r.status_code == 401
    assert 'href="http://127.0.0.1:8000/login"' in r.text and "sign in" in r.text.lower()


async def test_an_admin_turns_the_feature_on_from_the_page(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    async with svc.browser(admin) as browser:
        page = await browser.get(page_url(district))
        assert page.status_code == 200
        assert LABEL in page.text and NOTE in page.text
        assert "Contact details are updated automatically from the SIS" in page.text
        assert " checked" not in input_tag(page.text, "profile_update_requests_enabled")
        assert hidden(page.text, "version") == "0"

        posted = await browser.post(page_url(district),
                                    data=form_of(page.text, profile_update_requests_enabled="on"))
        assert (posted.status_code, posted.headers["location"]) == (303, page_url(district))
        after = await browser.get(posted.headers["location"])
    assert "Settings saved." in after.text
    assert " checked" in input_tag(after.text, "profile_update_requests_enabled")
    assert hidden(after.text, "version") == "1"
    current = await svc.settings_of(district)
    assert (current["version"], current["profile_update_requests_enabled"], current["updated_by"]) == (
        1, True, str(admin.id))
    assert current["notifications"]["timezone"] == "America/New_York"  # the other fields kept their values
    await svc.drain()
    assert [e["version"] for e in svc.published(svc.CHANGED)] == [1]


async def test_a_bad_time_zone_is_shown_next_to_the_field_and_nothing_is_saved(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    async with svc.browser(admin) as browser:
        page = await browser.get(page_url(district))
        r = await browser.post(page_url(district), data=form_of(page.text, timezone="Mars/Olympus",
                                                                profile_update_requests_enabled="on"))
    assert r.status_code == 422
    field = input_tag(r.text, "timezone")
    assert 'aria-invalid="true"' in field and "notifications-timezone-error" in field
    assert re.search(r'id="notifications-timezone-error">Unknown time zone<', r.text)
    assert 'value="Mars/Olympus"' in field  # what was typed stays, to be corrected
    assert hidden(r.text, "version") == "0"
    assert (await svc.settings_of(district))["version"] == 0
    await svc.drain()
    assert svc.published() == []


async def test_a_bad_send_time_is_shown_next_to_its_field(svc):
    district = svc.new_district()
    async with svc.browser(await svc.user(district, admin=True)) as browser:
        page = await browser.get(page_url(district))
        r = await browser.post(page_url(district), data=form_of(page.text, digest_local_time="25:00"))
    assert r.status_code == 422
    assert 'aria-invalid="true"' in input_tag(r.text, "digest_local_time")
    assert 'id="notifications-digest_local_time-error"' in r.text


async def test_posts_without_or_with_a_wrong_csrf_token_are_refused(svc):
    district = svc.new_district()
    async with svc.browser(await svc.user(district, admin=True)) as browser:
        page = await browser.get(page_url(district))
        for csrf in (None, "0" * 64, hidden(page.text, "csrf")[:-1] + "x"):
            r = await browser.post(page_url(district),
                                   data=form_of(page.text, csrf=csrf, profile_update_requests_enabled="on"))
            assert r.status_code == 403, csrf
    assert (await svc.settings_of(district))["version"] == 0


async def test_saving_a_form_someone_else_saved_meanwhile_shows_a_conflict(svc):
    district = svc.new_district()
    async with svc.browser(await svc.user(district, admin=True)) as browser:
        page = await browser.get(page_url(district))
        r = await svc.client.patch(f"/api/v1/districts/{district}/settings",
                                   json={"notifications": {"timezone": "America/Denver"}}, headers=svc.headers())
        assert r.status_code == 200
        stale = await browser.post(page_url(district), data=form_of(page.text, profile_update_requests_enabled="on"))
    assert stale.status_code == 409
    assert "Someone else saved these settings" in stale.text
    assert hidden(stale.text, "version") == "1" and 'value="America/Denver"' in input_tag(stale.text, "timezone")
    current = await svc.settings_of(district)
    assert (current["version"], current["profile_update_requests_enabled"]) == (1, False)


async def test_people_who_are_not_admins_see_the_settings_read_only_and_cannot_save(svc):
    district = svc.new_district()
    async with svc.browser(await svc.user(district, admin=False)) as browser:
        page = await browser.get(page_url(district))
        assert page.status_code == 200 and "<fieldset disabled>" in page.text and "Save settings" not in page.text
        r = await browser.post(page_url(district), data=form_of(page.text, profile_update_requests_enabled="on"))
        assert r.status_code == 403
    elsewhere = svc.new_district()
    async with svc.browser(await svc.user(elsewhere, admin=True)) as stranger:
        assert (await stranger.get(page_url(district))).status_code == 404
        own_page = await stranger.get(page_url(elsewhere))  # a valid CSRF token of their own session
        r = await stranger.post(page_url(district), data=form_of(own_page.text, profile_update_requests_enabled="on"))
        assert r.status_code == 404
    assert (await svc.settings_of(district))["version"] == 0


async def test_the_page_of_a_district_no_roster_was_imported_for_is_404(svc):
    unknown = svc.new_district()
    cookies = {SESSION_COOKIE: svc.token(district=unknown)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test",
                                 cookies=cookies) as browser:
        r = await browser.get(page_url(unknown))
    assert r.status_code == 404 and "roster must be imported first" in r.text
    assert await svc.db.fetchval("SELECT count(*) FROM district_settings WHERE district_id = $1", unknown) == 0
