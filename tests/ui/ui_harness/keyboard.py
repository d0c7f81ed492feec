"""Moving through a page with the keyboard alone, checking every stop on the way: the focused
element is on screen, and it looks different from when it was not focused (outline or box-shadow)."""
from __future__ import annotations

# Before each key press: how every focusable element looks unfocused.
SNAPSHOT = """() => {
  const seen = new Map();
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')) {
    const cs = getComputedStyle(el);
    seen.set(el, {outline: cs.outlineStyle === 'none' ? 'none' : `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`,
                  shadow: cs.boxShadow});
  }
  window.__unfocused = seen;
  window.__previous = document.activeElement;
}"""

# After it: the focused element, whether it is visible, and whether its focus shows.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const cs = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  const outline = cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) === 0 ? 'none'
                  : `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`;
  const before = (window.__unfocused && window.__unfocused.get(el)) || {outline: '?', shadow: '?'};
  const name = (el.getAttribute('aria-label') || el.innerText || el.value || el.name || '').trim().replace(/\\s+/g, ' ');
  return {
    tag: el.tagName.toLowerCase(), name, href: el.getAttribute('href'),
    // on screen, at least 2x2 px, and not clipped away or covered: what is drawn at its centre is it
    visible: r.width >= 2 && r.height >= 2 && r.bottom > 0 && r.right > 0 && r.top < innerHeight
             && r.left < innerWidth && cs.visibility === 'visible' && parseFloat(cs.opacity) > 0
             && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
             && el.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)),
    box: [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)],
    // a date input takes several Tabs (day, month, year) without losing the focus: checked at its first
    same: el === window.__previous,
    indicator: (outline !== 'none' && outline !== before.outline) || cs.boxShadow !== before.shadow,
    outline, shadow: cs.boxShadow, before,
  };
}"""


class Walk:
    """A keyboard-only walk on one page: Tab, Shift+Tab, Enter and Space, nothing else."""

    def __init__(self, page, limit: int = 120) -> None:
        self.page, self.limit, self.stops = page, limit, []

    async def press(self, key: str) -> dict | None:
        """Press `key`; for Tab and Shift+Tab, check and return where the focus went (Enter and
        Space may start a navigation: the caller waits for what it expects)."""
        if key not in ("Tab", "Shift+Tab"):
            await self.page.keyboard.press(key)
            return None
        await self.page.evaluate(SNAPSHOT)
        await self.page.keyboard.press(key)
        focused = await self.page.evaluate(FOCUSED)
        assert focused is not None, f"{key} left the focus on the page itself"
        self.check(focused)
        return focused

    def check(self, focused: dict) -> None:
        if focused["same"] and self.stops:  # still in the same control: as it looked at its first stop
            focused["indicator"] = self.stops[-1]["indicator"]
        self.stops.append(focused)
        where = f"{focused['tag']} {focused['name']!r} at {focused['box']}"
        assert focused["visible"], f"the focused {where} is not visible"
        assert focused["indicator"], (f"the focused {where} shows no focus: outline {focused['outline']}, "
                                      f"box-shadow {focused['shadow']}; unfocused {focused['before']}")

    async def tab_to(self, matches, backwards: bool = False) -> dict:
        """Tab (or Shift+Tab) until `matches(focused)`, checking every stop on the way."""
        for _ in range(self.limit):
            focused = await self.press("Shift+Tab" if backwards else "Tab")
            if matches(focused):
                return focused
        raise AssertionError(f"no element matched within {self.limit} presses; stops: "
                             f"{[(s['tag'], s['name']) for s in self.stops[-10:]]}")
