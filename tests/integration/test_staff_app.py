"""One staff app: the pages people use all live on the requests service's origin, with one session.

District Settings, My contact details and Email notifications are pages of the staff app over the
settings, sis_sync and digest APIs (docs/architecture.md, "One staff app"). Driven through HTTP
against the four services as real processes, signed in through the development login.
"""
from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from pur_kit.auth import SESSION_COOKIE
from pur_kit.testing import wait_until
from requests_service.entrypoints.i18n import format_when
from sis_sync_service.adapters.oneroster.generator import generate_roster

from .test_end_to_end import DISTRICT, directory, grant, import_roster, patch_settings


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


@contextlib.asynccontextmanager
async def signed_in(sys_, person: dict):
    """A browser-like client of the staff app, signed in as `person` through the development login."""
    async with httpx.AsyncClient(base_url=sys_.urls["requests"], timeout=30) as client:
        async def login() -> bool:
            r = await client.post("/login", data={"user_id": person["id"]})
            return r.status_code == 303

        await wait_until(login, timeout=20, message="the staff app to know the person")
        assert client.cookies.get(SESSION_COOKIE)
        yield client


async def people(sys_, tmp_path) -> dict:
    roster = generate_roster(tmp_path / "roster.zip", schools=2, students=6, parents=4, staff=4, seed=5)
    await import_roster(sys_, roster)
    staff = [u for u in await directory(sys_, role="teacher") if u["active"]]
    students = [u for u in await directory(sys_, role="student") if u["active"]]
    admin, manager = staff[0], staff[1]
    await grant(sys_, admin, {"district_admin": True, "users_manager": {"scope": "district"}})
    await grant(sys_, manager, {"district_admin": False, "users_manager": {"scope": "district"}})
    return {"admin": admin, "manager": manager, "student": students[0]}


async def eventually_html(client: httpx.AsyncClient, path: str, needle: str, *, message: str) -> str:
    """The page once it shows `needle` (projections fill in asynchronously)."""
    html = ""

    async def shows() -> bool:
        nonlocal html
        r = await client.get(path)
        html = r.text
        return r.status_code == 200 and needle in html

    await wait_until(shows, timeout=20, message=message)
    return html


async def test_district_settings_contact_details_local_times_and_one_session(system, tmp_path):
    sys_ = system
    cast = await people(sys_, tmp_path)

    # --- signed out: the page asked for comes back after sign-in ----------------------------------
    async with httpx.AsyncClient(base_url=sys_.urls["requests"], timeout=30) as anonymous:
        r = await anonymous.get("/district-settings")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fdistrict-settings"
        r = await anonymous.get("/login", params={"next": "/district-settings"})
        assert 'name="next" value="/district-settings"' in r.text

        async def back_to_settings() -> bool:
            r = await anonymous.post("/login", data={"user_id": cast["admin"]["id"], "next": "/district-settings"})
            return r.status_code == 303 and r.headers["location"] == "/district-settings"

        await wait_until(back_to_settings, timeout=20, message="sign-in returns to District Settings")

    async with signed_in(sys_, cast["admin"]) as admin:
        # --- the admin: District Settings in the navigation, editable, saved through the settings API
        html = await eventually_html(admin, "/district-settings", 'type="submit">Save settings',
                                     message="the admin's settings page")
        assert '<a href="/district-settings" aria-current="page">District Settings</a>' in html
        version = re.search(r'name="version" value="(\d+)"', html).group(1)
        form = {"csrf": csrf_of(html), "version": version, "digest_local_time": "06:30",
                "timezone": "America/Chicago", "daily_digest_enabled": "on"}
        r = await admin.post("/district-settings", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/district-settings", r.text
        r = await admin.get("/district-settings")
        assert "Settings saved." in r.text and 'value="America/Chicago"' in r.text
        saved = (await sys_.client.get(f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings",
                                       headers=sys_.system_headers)).json()
        assert saved["notifications"]["timezone"] == "America/Chicago"
        assert saved["notifications"]["digest_local_time"] == "06:30"
        assert saved["profile_update_requests_enabled"] is False  # the unchecked box is "off"

        # a bad value: 422, the field marked, nothing saved
        bad = {**form, "version": str(saved["version"]), "timezone": "Mars/Olympus_Mons"}
        r = await admin.post("/district-settings", data=bad)
        assert r.status_code == 422
        assert 'id="timezone"' in r.text and 'aria-invalid="true"' in r.text
        assert 'id="notifications-timezone-error"' in r.text
        # the version shown earlier is stale now: 409 with what is saved
        r = await admin.post("/district-settings", data={**form, "timezone": "America/Denver"})
        assert r.status_code == 409 and "Someone else saved these settings" in r.text
        assert (await sys_.client.get(f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings",
                                      headers=sys_.system_headers)).json()["version"] == saved["version"]

        # --- the district lets people edit their own contact details --------------------------
        await patch_settings(sys_, cast["admin"], {"profile_update_requests_enabled": True,
                                                   "sis_sync": {"contact_details_auto_update": False}})

    # --- a requester: local times, My contact details, no District Settings ------------------------
    async with signed_in(sys_, cast["student"]) as student:
        html = await eventually_html(student, "/my-contact", "Save contact details",
                                     message="contact details editable once the SIS no longer owns them")
        assert "District Settings" not in html
        r = await student.get("/district-settings")
        assert r.status_code == 403
        csrf = csrf_of(html)

        async def refused_as_invalid() -> bool:  # once sis_sync, too, knows the SIS no longer owns them
            nonlocal r
            r = await student.post("/my-contact", data={"csrf": csrf, "email": "not-an-email", "phone": "", "sms": ""})
            return r.status_code == 422

        await wait_until(refused_as_invalid, timeout=20, message="a bad email refused by sis_sync")
        assert re.search(r'<input id="c-email"[^>]*aria-invalid="true"', r.text.replace("\n", " "))
        assert 'id="c-email-error"' in r.text
        r = await student.post("/my-contact", data={"csrf": csrf_of(html), "email": "kid@example.org",
                                                    "phone": "+15555550142", "sms": ""})
        assert r.status_code == 303, r.text
        me = (await sys_.client.get(f"{sys_.urls['sis_sync']}/api/v1/directory/users/{cast['student']['id']}",
                                    headers=sys_.system_headers)).json()
        assert (me["email"], me["phone"], me["sms"]) == ("kid@example.org", "+15555550142", None)
        r = await student.get("/my-contact")
        assert "Your contact details were saved." in r.text and 'value="+15555550142"' in r.text

        # times in the district's zone (America/Chicago), the API keeps ISO UTC
        r = await sys_.client.post(f"{sys_.urls['requests']}/api/v1/requests",
                                   json={"changes": {"given_name": "Robin"}}, headers=sys_.person_headers(cast["student"]))
        assert r.status_code == 201, r.text
        submitted = datetime.fromisoformat(r.json()["submitted_at"])
        shown = format_when(submitted, "en", "America/Chicago")
        assert shown.endswith((" CST", " CDT"))
        html = await eventually_html(student, "/my-requests", shown, message="My requests in the district's time zone")
        assert f'datetime="{submitted.isoformat()}"' in html

        # sign-out ends the session: the next page asks to sign in again
        r = await student.post("/logout", data={"csrf": csrf_of(html)})
        assert r.status_code == 303 and SESSION_COOKIE in r.headers["set-cookie"]
        assert (await student.get("/my-contact")).status_code == 303

    # --- the SIS owns contact details again: read-only, explained -----------------------------------
    await patch_settings(sys_, cast["admin"], {"sis_sync": {"contact_details_auto_update": True}})
    async with signed_in(sys_, cast["manager"]) as manager:
        html = await eventually_html(manager, "/my-contact", "cannot be edited here",
                                     message="contact details read-only while the SIS owns them")
        assert "Save contact details" not in html
        # a Users Manager sees District Settings read-only
        html = await eventually_html(manager, "/district-settings", "Only a district administrator can change",
                                     message="read-only settings for a Users Manager")
        assert "Save settings" not in html
        r = await manager.post("/district-settings", data={"csrf": csrf_of(html), "version": "1",
                                                           "timezone": "UTC", "digest_local_time": "07:00"})
        assert r.status_code == 403

        # --- the settings service down: 503, then it recovers ------------------------------------
        spec = next(s for s in sys_.stack.specs if s.name == "settings")
        sys_.stack.stop_one("settings")
        r = await manager.get("/district-settings")
        assert r.status_code == 503 and "try again" in r.text and r.headers["retry-after"] == "30"
        sys_.stack.start_one(spec)
        await eventually_html(manager, "/district-settings", "District Settings",
                              message="District Settings again once the settings service is back")


async def test_the_email_one_click_unsubscribe_is_honoured_shown_and_reversible_in_the_staff_app(system, tmp_path):
    sys_ = system
    cast = await people(sys_, tmp_path)

    async def enabled() -> bool:  # once the settings service knows the admin
        r = await sys_.client.patch(f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings",
                                    json={"profile_update_requests_enabled": True,
                                          "notifications": {"daily_digest_enabled": True}},
                                    headers=sys_.person_headers(cast["admin"]))
        return r.status_code == 200

    await wait_until(enabled, timeout=20, message="the feature and the digest on")

    async def submitted() -> bool:
        r = await sys_.client.post(f"{sys_.urls['requests']}/api/v1/requests", json={"note": "please fix"},
                                   headers={**sys_.person_headers(cast["student"]), "Idempotency-Key": "unsub-1"})
        return r.status_code in (200, 201)

    await wait_until(submitted, timeout=20, message="a submission")
    managers = {cast["admin"]["email"], cast["manager"]["email"]}
    # three runs on three days (runs may not be for a future day): the day before yesterday, yesterday, today
    day = datetime.now(ZoneInfo("America/New_York")).date() - timedelta(days=2)   # the district's (default) zone

    async def run(on: date, *, dry_run: bool = False) -> dict:
        r = await sys_.client.post(f"{sys_.urls['digest']}/api/v1/digests/run", headers=sys_.system_headers,
                                   json={"district_id": DISTRICT, "date": on.isoformat(), "dry_run": dry_run})
        assert r.status_code == 200, r.text
        return r.json()

    async def both_planned() -> bool:
        return {e["to"] for e in (await run(day, dry_run=True))["emails"]} == managers

    await wait_until(both_planned, timeout=20, message="a digest planned for both managers")
    await run(day)
    await wait_until(lambda: len(sys_.mailbox.to(cast["manager"]["email"])) == 1, timeout=20, message="the digest")
    (mail,) = sys_.mailbox.to(cast["manager"]["email"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(https?://[^>]+)>", str(mail["List-Unsubscribe"]).strip()).group(1)

    # exactly what a mail client sends (RFC 8058): a POST to the URL, no cookie, no credential
    async with httpx.AsyncClient(timeout=30) as mail_client:
        r = await mail_client.post(url, content=b"List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text

    tomorrow = await run(day + timedelta(days=1))
    assert cast["manager"]["email"] not in {e["to"] for e in tomorrow.get("emails", [])}
    await wait_until(lambda: len(sys_.mailbox.to(cast["admin"]["email"])) == 2, timeout=20,
                     message="the other manager's second digest")
    assert len(sys_.mailbox.to(cast["manager"]["email"])) == 1   # none the next day for who unsubscribed

    # visible and reversible by that manager, in the staff app
    async with signed_in(sys_, cast["manager"]) as manager:
        html = await eventually_html(manager, "/notifications", "with the\n    email's unsubscribe link",
                                     message="the opt-out shown on Email notifications")
        assert "Get the daily digest email again" in html
        r = await manager.post("/notifications", data={"csrf": csrf_of(html), "subscribed": "true"})
        assert r.status_code == 303
        html = (await manager.get("/notifications")).text
        assert "You will get the daily digest email again." in html and "Stop the daily digest email" in html
    r = await sys_.client.get(f"{sys_.urls['digest']}/api/v1/digest/subscription",
                              headers=sys_.person_headers(cast["manager"]))
    assert r.json()["subscribed"] is True
    await run(day + timedelta(days=2))
    await wait_until(lambda: len(sys_.mailbox.to(cast["manager"]["email"])) == 2, timeout=20,
                     message="the digest again after re-subscribing")
