"""The schedule rules: local send time in an IANA zone, daylight-saving days, the grace window."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from digest_service.domain.schedule import (
    DigestSchedule,
    InvalidSchedule,
    due_local_date,
    local_date_of,
    send_instant,
)

NY = "America/New_York"
GRACE = timedelta(hours=6)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(hhmm: str, zone: str = NY) -> DigestSchedule:
    return DigestSchedule.parse(hhmm, zone)


def test_the_send_instant_is_the_local_time_in_the_districts_zone():
    assert send_instant(date(2026, 1, 15), at("07:00")) == utc(2026, 1, 15, 12)  # EST, UTC-5
    assert send_instant(date(2026, 7, 15), at("07:00")) == utc(2026, 7, 15, 11)  # EDT, UTC-4
    assert send_instant(date(2026, 7, 15), at("07:00", "Europe/Berlin")) == utc(2026, 7, 15, 5)


def test_the_23_hour_day_keeps_the_local_send_time():
    before, spring, after = (send_instant(date(2026, 3, d), at("07:00")) for d in (7, 8, 9))
    assert spring - before == timedelta(hours=23)
    assert after - spring == timedelta(hours=24)
    assert spring.astimezone(at("07:00").zone).time() == time(7, 0)


def test_the_25_hour_day_keeps_the_local_send_time():
    before, fall, after = (send_instant(date(2026, d[0], d[1]), at("07:00")) for d in ((10, 31), (11, 1), (11, 2)))
    assert fall - before == timedelta(hours=25)
    assert after - fall == timedelta(hours=24)
    assert fall.astimezone(at("07:00").zone).time() == time(7, 0)


def test_a_local_time_skipped_by_spring_forward_runs_at_the_first_valid_instant_after_it():
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 never happens; 03:00 EDT is 07:00 UTC.
    instant = send_instant(date(2026, 3, 8), at("02:30"))
    assert instant == utc(2026, 3, 8, 7)
    assert instant.astimezone(at("02:30").zone).strftime("%H:%M %Z") == "03:00 EDT"
    # a 30-minute jump (Lord Howe Island, 02:00 -> 02:30) lands on 02:30 too
    lord_howe = send_instant(date(2026, 10, 4), at("02:15", "Australia/Lord_Howe"))
    assert lord_howe.astimezone(at("02:15", "Australia/Lord_Howe").zone).strftime("%H:%M") == "02:30"


def test_a_local_time_repeated_by_fall_back_runs_at_its_first_occurrence():
    # 2026-11-01: 01:00-02:00 happens twice, first EDT (UTC-4) then EST (UTC-5).
    instant = send_instant(date(2026, 11, 1), at("01:30"))
    assert instant == utc(2026, 11, 1, 5, 30)
    assert instant.astimezone(at("01:30").zone).strftime("%H:%M %Z") == "01:30 EDT"


def test_the_digest_is_due_from_the_send_time_until_the_grace_ends():
    schedule = at("07:00")
    assert due_local_date(utc(2026, 1, 15, 11, 59), schedule, GRACE) is None
    assert due_local_date(utc(2026, 1, 15, 12, 0), schedule, GRACE) == date(2026, 1, 15)
    assert due_local_date(utc(2026, 1, 15, 17, 59), schedule, GRACE) == date(2026, 1, 15)
    assert due_local_date(utc(2026, 1, 15, 18, 0), schedule, GRACE) == date(2026, 1, 15)
    assert due_local_date(utc(2026, 1, 15, 18, 1), schedule, GRACE) is None


def test_a_missed_digest_is_never_sent_on_a_later_local_day():
    schedule = at("21:00")
    # 21:00 EST is 02:00 UTC the next day; a 6 h grace would reach 03:00 local the next day,
    # but after local midnight it is a new local date whose own send time has not come yet.
    assert due_local_date(utc(2026, 1, 16, 4, 30), schedule, GRACE) == date(2026, 1, 15)  # 23:30 local
    assert due_local_date(utc(2026, 1, 16, 5, 30), schedule, GRACE) is None               # 00:30 local


def test_the_local_date_is_the_districts_not_utcs():
    assert local_date_of(utc(2026, 1, 16, 3), at("07:00").zone) == date(2026, 1, 15)
    assert local_date_of(utc(2026, 1, 16, 3), at("07:00", "Asia/Tokyo").zone) == date(2026, 1, 16)


@pytest.mark.parametrize("hhmm", ["07:00", "02:30", "01:30", "00:00", "23:45"])
def test_stepping_a_clock_through_both_changes_starts_exactly_one_digest_per_local_day(hhmm):
    schedule = at(hhmm)
    for start, days in ((utc(2026, 3, 5, 5), 6), (utc(2026, 10, 29, 4), 6)):
        done: dict[date, datetime] = {}
        now = start
        while now < start + timedelta(days=days):
            local_date = due_local_date(now, schedule, GRACE)
            if local_date is not None and local_date not in done:
                done[local_date] = now
            now += timedelta(minutes=15)
        first_local = local_date_of(start, schedule.zone)
        expected = [first_local + timedelta(days=i) for i in range(1, days - 1)]
        assert all(d in done for d in expected), (hhmm, sorted(done))
        for local_date, ran_at in done.items():
            assert ran_at == send_instant(local_date, schedule)  # on the first tick at or after the time


def test_unusable_settings_are_refused():
    with pytest.raises(InvalidSchedule):
        DigestSchedule.parse("7am", NY)
    with pytest.raises(InvalidSchedule):
        DigestSchedule.parse("24:00", NY)
    with pytest.raises(InvalidSchedule):
        DigestSchedule.parse("07:00", "Mars/Olympus_Mons")


def test_a_naive_clock_is_a_programming_error():
    with pytest.raises(ValueError):
        due_local_date(datetime(2026, 1, 15, 12), at("07:00"), GRACE)
