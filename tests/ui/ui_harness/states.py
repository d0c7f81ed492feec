"""Every page of the staff web app in each state worth checking: one line each.

A state is a URL (a path, or a function of the seeded `Site` for ids), who is signed in (a key of
`Site.people`, or None), optionally `act`, a short coroutine that brings the opened page to the state
(a form post...), the HTTP status the page answers with, and which running site it needs: `site`,
the requests service alone (seeded with contract events), or `full_site`, the four services as
processes, for the pages that call the other services' APIs (started once, when a state asks). `known` names the checks a state fails
today, with the reason: those tests are `xfail(strict=True)`, so the fix that makes one pass must
also delete its entry here. Keys: a check ("axe", "overflow") or a check at one width ("axe@390").

Adding a page or a state: one more `State(...)` line below (and, if it needs data, a person or a
request in `site.seed`).
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

DESKTOP, PHONE = 1280, 390
WIDTHS = (DESKTOP, PHONE)
HEIGHTS = {DESKTOP: 800, PHONE: 844}


@dataclass(frozen=True)
class State:
    name: str
    url: str | Callable[[object], str]
    who: str | None = None
    act: Callable[[object, object], Awaitable[None]] | None = None
    status: int = 200
    known: dict[str, str] = field(default_factory=dict)
    site: str = "site"  # the fixture: "site" or "full_site"

    def path(self, site) -> str:
        return self.url(site) if callable(self.url) else self.url

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def known_failure(self, check: str, width: int | None = None) -> str | None:
        return self.known.get(f"{check}@{width}") or self.known.get(check)


def details(key: str) -> Callable[[object], str]:
    return lambda site: f"/manage-requests/{site.requests[key]}"


async def submit_bad_phone(page, site) -> None:
    """My requests' form sent with a phone number the rules refuse: the page comes back as a 422."""
    await page.locator("#f-phone").fill("12345")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.locator('form[action="/my-requests"] button[type=submit]').click()  # in any language
    assert (await answer.value).status == 422


async def bulk_mark_done(page, site) -> None:
    """Pine Academy's first request (New again, whatever an earlier run did) marked done with the
    list's checkboxes: the list comes back with the bulk action's message."""
    await site.act("busy_manager", site.requests["pupil0"], "restore")
    await page.reload()
    await page.get_by_label("Select the request from Pupil00 Pine").check()
    await page.get_by_role("button", name="Mark selected as Done").click()
    await page.get_by_role("status").wait_for()


async def next_page(page, site) -> None:
    await page.get_by_role("link", name="Next page").click()
    await page.wait_for_url(re.compile(r"cursor="))


async def log_out(page, site) -> None:
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(re.compile(r"/login$"))


async def save_bad_time_zone(page, site) -> None:
    """District Settings saved with a time zone that does not exist: the settings service refuses
    it (422) and the page marks the field; nothing is saved."""
    await page.locator("#timezone").fill("Mars/Olympus_Mons")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Save settings").click()
    assert (await answer.value).status == 422


async def save_bad_email(page, site) -> None:
    """My contact details saved with an email sis_sync refuses (422): the field is marked, nothing saved."""
    await page.locator("#c-email").fill("not-an-email")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Save contact details").click()
    assert (await answer.value).status == 422


def press_digest_button(subscribed_before: bool, button: str, flash: str):
    """Email notifications from a known subscription (set through the digest API, whatever an
    earlier run did), then the page's button pressed: the page comes back with its message."""
    async def act(page, site) -> None:
        await site.set_subscribed("users_manager", subscribed_before)
        await page.reload()
        await page.get_by_role("button", name=button).click()
        await page.get_by_role("status").filter(has_text=flash).wait_for()
    return act


STATES: list[State] = [
    State("login", "/login"),
    State("login filtered", "/login?q=Alder"),
    State("login no match", "/login?q=nobody-is-called-this"),
    State("signed out", "/manage-requests?tab=done"),          # redirected to the login page
    State("logged out", "/my-requests", "sam", act=log_out),
    State("directory", "/directory", "manager"),
    State("directory filtered", "/directory?school_id=sch-b&q=Otto", "manager"),
    State("directory empty", "/directory?q=nobody-is-called-this", "manager"),
    State("manage-requests new", "/manage-requests", "manager"),
    State("manage-requests done", "/manage-requests?tab=done", "manager"),
    State("manage-requests all", "/manage-requests?tab=all", "manager"),
    State("manage-requests empty", "/manage-requests", "idle_manager"),
    State("manage-requests filtered", "/manage-requests?tab=all&school_id=sch-a&q=Rita", "manager"),
    State("manage-requests filter error (422)", "/manage-requests?from=2026-02-30&to=soon", "manager", status=422),
    State("manage-requests next page", "/manage-requests?tab=all", "busy_manager", act=next_page),
    State("manage-requests bulk done", "/manage-requests", "busy_manager", act=bulk_mark_done),
    State("request details new", details("new"), "manager"),
    State("request details done", details("done"), "manager"),
    State("request details appears applied", details("applied"), "manager"),
    State("request details note only", details("note_only"), "manager"),
    State("my-requests empty", "/my-requests", "sam"),
    State("my-requests with requests", "/my-requests", "rita"),
    State("my-requests form error (422)", "/my-requests", "sam", act=submit_bad_phone),
    State("my-requests feature disabled", "/my-requests", "dee"),
    State("my-requests in Spanish", "/my-requests?lang=es", "rita"),
    State("my-requests form error in Spanish", "/my-requests?lang=es", "sam", act=submit_bad_phone),
    State("error 403 (not a manager)", "/directory", "rita", status=403),
    State("error 404 (no such request)", f"/manage-requests/{uuid.UUID(int=1)}", "manager", status=404),
    State("error 403 in Spanish", "/directory?lang=es", "rita", status=403),
    # pages over the other services' APIs (the four services as processes)
    State("district settings admin", "/district-settings", "admin", site="full_site"),
    State("district settings read-only (Users Manager)", "/district-settings", "users_manager", site="full_site"),
    State("district settings bad time zone (422)", "/district-settings", "admin", act=save_bad_time_zone,
          site="full_site"),
    State("my-contact editable", "/my-contact", "student", site="full_site"),
    State("my-contact bad email (422)", "/my-contact", "student", act=save_bad_email, site="full_site"),
    State("my-contact read-only (SIS owns them)", "/my-contact", "sis_student", site="full_site"),
    State("notifications subscribed", "/notifications", "users_manager", site="full_site",
          act=press_digest_button(False, "Get the daily digest email again", "You will get the daily digest")),
    State("notifications unsubscribed", "/notifications", "users_manager", site="full_site",
          act=press_digest_button(True, "Stop the daily digest email", "You will no longer get")),
]


def params(check: str, widths=WIDTHS) -> list:
    """pytest params (state, width) for `check`, with the known failures marked xfail(strict)."""
    out = []
    for state in STATES:
        for width in widths:
            reason = state.known_failure(check, width)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(state, width, id=f"{state.slug}@{width}", marks=marks))
    return out
