"""A school-level Users Manager works through requests in a real Chromium (Debian's, through
Playwright), against the service served by a real uvicorn on a free port."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pur_kit.testing.browser import CHROMIUM, CHROMIUM_ARGS, need_chromium, served

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"
API = "/api/v1/requests"


@pytest.fixture
async def server(svc):
    """The already-running app (broker, consumers, relay started by `svc`) behind real HTTP."""
    async with served(svc.app) as base_url:
        yield base_url


async def test_a_school_manager_marks_a_request_done_and_restores_it_in_chromium(svc, cast, server):
    need_chromium()
    from playwright.async_api import async_playwright, expect

    rita = await svc.client.post(API, json={"changes": {"email": "rita.new@example.org"}, "note": "New address."},
                                 headers=svc.headers(cast.requester_a))
    other_a = await svc.world.user(cast.district, schools=["sch-a"], given="Ivy", family="Ash",
                                   email="ivy@example.org")
    await svc.client.post(API, json={"changes": {"given_name": "Ivy-Rose"}}, headers=svc.headers(other_a))
    await svc.client.post(API, json={"note": "Birch only"}, headers=svc.headers(cast.requester_b))
    assert rita.status_code == 201

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(15_000)

            # 1. log in as the school-A Users Manager on the development login page
            await page.goto(f"{server}/login")
            await page.get_by_label("Name").fill("Alder")
            await page.get_by_role("button", name="Filter").click()
            await page.get_by_role("button", name="Log in as Mia Alder").click()
            await expect(page).to_have_url(f"{server}/directory")
            await expect(page.get_by_role("heading", name="Directory")).to_be_visible()

            # 2. Directory → "+👥" → Manage Requests
            menu = page.locator("details.menu")
            menu_link = menu.get_by_role("link", name="Manage Requests")
            await expect(menu_link).to_be_hidden()
            await page.get_by_text("+👥").click()
            await expect(menu_link).to_be_visible()
            await menu_link.click()

            # 3. the New tab lists only school A's requests
            await expect(page).to_have_url(re.compile(r"/manage-requests$"))
            await expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("New (2)")
            rows = page.locator("tbody tr")
            await expect(rows).to_have_count(2)
            await expect(page.locator("tbody")).to_contain_text("Rita Requester")
            await expect(page.locator("tbody")).to_contain_text("Ivy Ash")
            await expect(page.locator("tbody")).not_to_contain_text("Bob Builder")
            await page.screenshot(path=str(ARTIFACTS / "manage-requests.png"), full_page=True)

            # 4. open the details: current vs requested values, the note, the history
            rita_row = rows.filter(has_text="Rita Requester")
            await rita_row.get_by_role("link").click()
            await expect(page.get_by_role("heading", name="Request from Rita Requester")).to_be_visible()
            await expect(page.locator("table")).to_contain_text("rita@example.org")
            await expect(page.locator("table")).to_contain_text("rita.new@example.org")
            await expect(page.locator("blockquote")).to_have_text("New address.")

            # 5. Mark as Done
            await page.get_by_role("button", name="Mark as Done").click()
            await expect(page.get_by_role("status")).to_have_text("Request marked as done.")
            await expect(page.locator("ol")).to_contain_text("Marked as done by Mia Alder")
            await page.screenshot(path=str(ARTIFACTS / "request-details.png"), full_page=True)

            # 6. it appears under Marked as Done (and no longer under New)
            await page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage Requests").click()
            await expect(page.locator("tbody tr")).to_have_count(1)
            await expect(page.locator("tbody")).not_to_contain_text("Rita Requester")
            await page.locator("nav.tabs").get_by_role("link", name="Marked as Done").click()
            done_row = page.locator("tbody tr").filter(has_text="Rita Requester")
            await expect(done_row).to_have_count(1)

            # 7. Restore Request: back under New
            await done_row.get_by_role("button", name="Restore Request").click()
            await expect(page.get_by_role("status")).to_have_text("Request restored.")
            await expect(page.locator("tbody tr")).to_have_count(0)
            await expect(page.get_by_text("No requests marked as done.")).to_be_visible()
            await page.locator("nav.tabs").get_by_role("link", name="New").click()
            await expect(page.locator("tbody tr").filter(has_text="Rita Requester")).to_have_count(1)
            await expect(page.locator("tbody tr")).to_have_count(2)
        finally:
            await browser.close()

    r = await svc.client.get(f"{API}/{rita.json()['id']}", headers=svc.headers(cast.manager_a))
    assert [h["action"] for h in r.json()["history"]] == ["submitted", "marked_done", "restored"]
