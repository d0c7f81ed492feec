"""Manage Requests' date filter: the dates are the district's days, not UTC's."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from requests_service.entrypoints.ui_manage import _check_filters


def test_a_date_range_spans_whole_days_in_the_district_time_zone():
    values = {"from": "2026-03-01", "to": "2026-03-08", "field": ""}
    errors, start, end = _check_filters(values, ZoneInfo("America/Chicago"))
    assert errors == {}
    assert start.astimezone(UTC) == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)    # CST midnight
    assert end.astimezone(UTC) == datetime(2026, 3, 9, 5, 0, tzinfo=UTC)      # CDT midnight after the 8th


def test_bad_dates_and_fields_are_named_and_leave_no_range():
    errors, start, end = _check_filters({"from": "2026-13-01", "to": "", "field": "shoe_size"}, UTC)
    assert set(errors) == {"from", "field"} and (start, end) == (None, None)
    errors, *_ = _check_filters({"from": "2026-03-08", "to": "2026-03-01", "field": ""}, UTC)
    assert set(errors) == {"to"}
