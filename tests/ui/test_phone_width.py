"""At 390 px (a phone) no page state is wider than the screen: nothing scrolls sideways."""
from __future__ import annotations

import pytest
from ui_harness import report
from ui_harness.browser import OVERFLOW, opened
from ui_harness.states import PHONE, params

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("state", "width"), params("overflow", widths=(PHONE,)))
async def test_the_page_fits_a_phone_screen(state_site, browser, state, width):
    async with opened(browser, state_site, state, width) as page:
        measured = await page.evaluate(OVERFLOW)
    fits = measured["scrollWidth"] <= width
    report.record("overflow", ("state", "viewport", "scrollWidth", "fits"), (state.name,),
                  (state.name, width, measured["scrollWidth"], "yes" if fits else "NO"))
    assert fits, f"{state.name}: {measured['scrollWidth']} px wide at {width}; too wide: {measured['culprits']}"
