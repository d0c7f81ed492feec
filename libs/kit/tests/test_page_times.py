"""Pages show times in the district's time zone (the `when` filter), with the zone's abbreviation."""
from datetime import UTC, datetime

from jinja2 import DictLoader, Environment

from pur_kit.web import when


def render(timezone: str | None, value: object) -> str:
    env = Environment(loader=DictLoader({"t": "{{ value | when }}"}))
    env.filters["when"] = when
    context = {"value": value} if timezone is None else {"value": value, "timezone": timezone}
    return env.get_template("t").render(**context)


def test_a_time_is_shown_in_the_page_time_zone_with_its_abbreviation():
    winter = datetime(2026, 11, 30, 3, 56, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert render("America/New_York", winter) == "2026-11-29 22:56 EST"
    assert render("America/New_York", summer) == "2026-07-01 08:00 EDT"
    assert render("America/Chicago", winter) == "2026-11-29 21:56 CST"


def test_without_a_known_zone_the_time_is_utc_and_anything_else_is_blank():
    at = datetime(2026, 11, 30, 3, 56, tzinfo=UTC)
    assert render(None, at) == "2026-11-30 03:56 UTC"
    assert render("Not/A_Zone", at) == "2026-11-30 03:56 UTC"
    assert render("../../etc/passwd", at) == "2026-11-30 03:56 UTC"
    assert render("America/Chicago", None) == ""
    assert render("America/Chicago", "2026-11-30") == ""
