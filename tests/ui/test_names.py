"""What screen readers and voice control get, where axe cannot judge: controls named by what they
show (WCAG 2.5.3, label in name), and tables that stay tables when a phone shows them as cards."""
from __future__ import annotations

import re

import pytest
from ui_harness.browser import opened
from ui_harness.states import DESKTOP, PHONE, STATES

pytestmark = pytest.mark.browser
DIRECTORY = next(s for s in STATES if s.name == "directory")


async def test_the_directory_menu_is_named_by_its_visible_text_and_says_what_it_is(site, browser):
    from playwright.async_api import expect

    async with opened(browser, site, DIRECTORY, DESKTOP) as page:
        summary = page.locator("details.menu > summary")
        # its own text: the words in the visually hidden span are for screen readers
        visible = await summary.evaluate(
            "el => Array.from(el.childNodes).filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join('')")
        assert visible.strip() == "+👥"
        await expect(summary).to_have_accessible_name(re.compile(r"^\+👥\s*Directory actions$"))
        await expect(summary).to_have_attribute("title", "Directory actions")  # the mouse's tooltip


async def test_on_a_phone_the_directory_cards_are_still_a_table_and_labels_are_not_read_twice(site, browser):
    from playwright.async_api import expect

    async with opened(browser, site, DIRECTORY, PHONE) as page:
        email = page.locator("td[data-label=Email]").filter(has_text="rita@example.org")
        label = await email.evaluate("el => getComputedStyle(el, '::before').content")
        assert "Email" in label  # the card shows the label...
        table = page.get_by_role("table", name="People you manage")
        await expect(table.get_by_role("columnheader", name="Email")).to_have_count(1)
        # ...and the cell is still named by its value alone: the header says what it is
        await expect(table.get_by_role("cell", name="rita@example.org", exact=True)).to_have_count(1)
