"""The HTML digest as a phone shows it: the part exactly as sent (parsed back from the MIME message)
laid out by a real Chromium (Debian's, through Playwright) at a 390 px wide viewport, with the
longest names, school lists and listings the email can hold."""
from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from digest_service.adapters.render import DigestRenderer, Links
from digest_service.domain.digest import DigestContent, Recipient, RequestLine
from pur_contracts.base import FULL_NAME_MAX
from pur_kit.auth import PurposeTokens
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.testing.browser import CHROMIUM, CHROMIUM_ARGS, need_chromium

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
NOW = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)


def widest_digest_html() -> str:
    """A digest at its widest: 25 rows, names of the longest allowed length without a space to wrap
    at, a manager of many schools with long names, every kind of row (note only, applied)."""
    schools = {f"sch-{i}": f"Springfield Elementary and Middle School Number {i} of the North District"
               for i in range(6)}
    recipient = Recipient(uuid.uuid4(), "springfield-unified-school-district", "mia@example.org",
                          "Maximiliana" * 4, "Alder", "schools", tuple(schools))
    lines = tuple(
        RequestLine(uuid.uuid4(), ("Wolfeschlegelsteinhausenbergerdorff" * 9)[:FULL_NAME_MAX] if i % 2 else
                    f"Rita Requester {i}", tuple(schools)[: 1 + i % 6], NOW - timedelta(hours=i),
                    ("given_name", "family_name", "email", "phone", "sms") if i % 3 else (), True, i % 4 == 0)
        for i in range(25))
    content = DigestContent(recipient, NOW.date(), NOW, 1234, 456, NOW - timedelta(days=400), lines)
    renderer = DigestRenderer("Profile Update Requests <no-reply@pur.example>",
                              Links("https://staff.springfield-unified.example/some/long/prefix",
                                    "https://settings.springfield-unified.example",
                                    "https://digest.springfield-unified.example",
                                    PurposeTokens(DEV_JWT_SECRET, "digest-unsubscribe")))
    rendered = renderer.render(content, school_names=schools, zone=ZoneInfo("America/New_York"),
                               delivery_id=uuid.uuid4(), now=NOW)
    message = email.message_from_bytes(rendered.data, policy=email.policy.default)
    return message.get_body(("html",)).get_content()


async def test_the_html_digest_fits_a_390_px_phone_screen_without_sideways_scrolling():
    need_chromium()
    from playwright.async_api import async_playwright

    html = widest_digest_html()
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport=PHONE, java_script_enabled=True, offline=True)
            page = await context.new_page()
            await page.set_content(html)
            widths = await page.evaluate("""() => ({
                document: document.documentElement.scrollWidth,
                body: document.body.scrollWidth,
                widest: Math.max(...[...document.querySelectorAll('body *')]
                                 .map(e => e.getBoundingClientRect().right)),
            })""")
            await page.screenshot(path=str(ARTIFACTS / "digest-email-390px.png"), full_page=True)
            print(f"digest email at 390 px: document width {widths['document']} px, body {widths['body']} px, "
                  f"rightmost element edge {widths['widest']:.1f} px")
            assert widths["document"] <= PHONE["width"]
            assert widths["body"] <= PHONE["width"]
            assert widths["widest"] <= PHONE["width"]
            assert await page.locator("style").count() == 0

            await page.set_viewport_size({"width": 1280, "height": 900})   # on a desktop: a 600 px column
            column = await page.locator(".wrap").evaluate("e => e.getBoundingClientRect().width")
            assert column <= 600
        finally:
            await browser.close()
