"""A Users Manager does the whole round with the keyboard alone: sign in on the development login,
open Manage Requests, a request's details, Mark as Done, Restore. Every element the focus reaches on
the way is on screen and shows that it has the focus."""
from __future__ import annotations

import re

import pytest
from ui_harness.browser import screenshot
from ui_harness.keyboard import Walk
from ui_harness.site import API, add_keyboard_district
from ui_harness.states import DESKTOP, HEIGHTS, WIDTHS, State

pytestmark = pytest.mark.browser


def named(prefix: str):
    return lambda f: f["name"].startswith(prefix)


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_manager_works_through_a_request_with_the_keyboard_alone(site, browser, width):
    manager, request_id = await add_keyboard_district(site, str(width))
    context = await browser.new_context(viewport={"width": width, "height": HEIGHTS[width]})
    try:
        page = await context.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{site.base_url}/login")  # the only navigation not made with the keyboard
        walk = Walk(page)

        # the first Tab reaches the skip link, shown while it has the focus; Shift+Tab comes back to it
        skip = await walk.press("Tab")
        assert skip["name"] == "Skip to content", skip
        await walk.press("Tab")
        assert (await walk.tab_to(named("Skip to content"), backwards=True))["href"] == "#main"

        # 1. sign in as the manager (the development login lists everyone: Tab to their button)
        await walk.tab_to(named(f"Log in as {manager}"))
        await walk.press("Enter")
        await page.wait_for_url(re.compile(r"/directory$"))

        # 2. Manage Requests, from the main navigation
        await walk.tab_to(lambda f: f["tag"] == "a" and f["href"] == "/manage-requests")
        await walk.press("Enter")
        await page.wait_for_url(re.compile(r"/manage-requests$"))

        # 3. the request's details
        await walk.tab_to(lambda f: f["href"] == f"/manage-requests/{request_id}")
        await walk.press("Enter")
        await page.wait_for_url(re.compile(rf"/manage-requests/{request_id}$"))
        assert await page.get_by_role("heading", level=1).inner_text() == "Request from Kai Keyboard"

        # 4. Mark as Done (Enter on the button)
        await walk.tab_to(named("Mark as Done"))
        await walk.press("Enter")
        await page.get_by_role("status").filter(has_text="Request marked as done.").wait_for()

        # 5. Restore (Space on the button)
        await walk.tab_to(named("Restore Request"))
        await walk.press("Space")
        await page.get_by_role("status").filter(has_text="Request restored.").wait_for()
        await walk.tab_to(named("Mark as Done"))  # New again: the page offers Mark as Done
        await screenshot(page, State("keyboard walkthrough end", ""), width)
    finally:
        await context.close()

    history = await site.client.get(f"{API}/{request_id}", headers=site.headers(f"keys{width}"))
    assert [h["action"] for h in history.json()["history"]] == ["submitted", "marked_done", "restored"]
    assert len(walk.stops) >= 10


@pytest.mark.parametrize(("broken_css", "complaint"), [
    ("*:focus, *:focus-visible { outline: none !important; }", "shows no focus"),
    (("a.visually-hidden:focus { width: 1px !important; height: 1px !important; padding: 0 !important;"
      " border: 0 !important; clip: rect(0 0 0 0) !important; overflow: hidden !important; }"), "is not visible"),
], ids=["no focus ring", "skip link stays hidden"])
async def test_the_walk_notices_what_it_checks(site, browser, broken_css, complaint):
    """The checks can fail: the same page with a stylesheet that hides the focus, or the skip link."""
    context = await browser.new_context(viewport={"width": DESKTOP, "height": HEIGHTS[DESKTOP]})
    try:
        async def broken(route):
            response = await route.fetch()
            await route.fulfill(response=response, body=(await response.text()) + "\n" + broken_css)

        await context.route("**/static/app.css", broken)
        page = await context.new_page()
        await page.goto(f"{site.base_url}/login")
        with pytest.raises(AssertionError, match=complaint):
            await Walk(page).press("Tab")
    finally:
        await context.close()
