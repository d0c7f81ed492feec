"""Opening a page state in Chromium, and the page-side measurements the checks use."""
from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from pur_kit.testing.browser import need

from .states import HEIGHTS, State

UI_DIR = Path(__file__).resolve().parents[1]
AXE = UI_DIR / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = UI_DIR.parents[1] / "test-artifacts" / "ui"


def need_axe() -> None:
    if not AXE.exists():
        need(f"{AXE} is missing (npm ci --prefix tests/ui; .ci/run and `make install` run it)")


@asynccontextmanager
async def opened(browser, site, state: State, width: int, *, axe: bool = False):
    """A fresh browser context at `width`, signed in as the state's person, on the state's page.

    axe-core goes in as an init script (the DevTools protocol's "evaluate on new document"), which
    the page's Content-Security-Policy (`default-src 'self'`, no inline script) does not govern: the
    pages are checked under their real CSP, with no bypass."""
    context = await browser.new_context(viewport={"width": width, "height": HEIGHTS[width]})
    try:
        if axe:
            await context.add_init_script(path=str(AXE))
        if state.who:
            await context.add_cookies([site.cookie_for(state.who)])
        page = await context.new_page()
        page.set_default_timeout(15_000)
        response = await page.goto(site.base_url + state.path(site))
        if state.act is not None:
            await state.act(page, site)
        else:
            assert response is not None and response.status == state.status, \
                f"{state.name}: HTTP {response and response.status}, expected {state.status}"
        yield page
    finally:
        await context.close()


# axe's defaults (WCAG 2.0-2.2 A and AA, best practices) and one experimental rule: a control's
# accessible name contains its visible text (WCAG 2.5.3, the "+👥" menu of the Directory).
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations'],
                                          rules: {'label-content-name-mismatch': {enabled: true}}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
                                      count: v.nodes.length}));
}"""

# Elements whose right edge passes the viewport: what to blame when a page is too wide.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 0.5 && r.width > 0) {
      wide.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') + ' (right ' + Math.round(r.right) + ')');
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, culprits: wide.slice(0, 8)};
}"""


async def screenshot(page, state: State, width: int) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{state.slug}-{width}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
