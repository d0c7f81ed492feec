"""Every page state passes axe-core (its default rules: WCAG 2.x A and AA, and best practices) at
desktop and phone widths; a full-page screenshot of each goes to test-artifacts/ui/."""
from __future__ import annotations

import pytest
from ui_harness import report
from ui_harness.browser import AXE, AXE_RUN, need_axe, opened, screenshot
from ui_harness.states import params

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("state", "width"), params("axe"))
async def test_the_page_has_no_axe_violations(state_site, browser, state, width):
    need_axe()
    async with opened(browser, state_site, state, width, axe=True) as page:
        await screenshot(page, state, width)
        violations = await page.evaluate(AXE_RUN)
    summary = ", ".join(f"{v['id']} ({v['count']})" for v in violations) or "0"
    report.record("axe", ("state", "width", "violations"), (state.name, width), (state.name, width, summary))
    assert violations == [], "\n".join(
        f"{v['id']} [{v['impact']}] {v['help']}: {'; '.join(v['nodes'])}" for v in violations)


async def test_axe_flags_a_control_whose_name_hides_its_visible_text(browser):
    """The check can fail: an aria-label that drops the words a control shows (WCAG 2.5.3) is a
    violation to it (axe skips symbols such as "+👥": test_names.py checks that menu's name)."""
    need_axe()
    page = await browser.new_page()
    try:
        await page.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
                               '<details><summary aria-label="Directory actions">+👥 Add</summary>'
                               '<a href="/x">x</a></details></main></body></html>')
        await page.add_script_tag(path=str(AXE))  # about:blank has no CSP
        violations = await page.evaluate(AXE_RUN)
    finally:
        await page.close()
    assert [v["id"] for v in violations] == ["label-content-name-mismatch"]
