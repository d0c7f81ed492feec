"""When a district's digest is due: local send time in an IANA zone, across daylight-saving changes.

Pure functions of (now, settings); the scheduler calls them with its injected clock.

- The send instant of a local date is that date at HH:MM in the district's zone. A local time that
  does not exist (spring forward: 02:30 on a day that jumps from 02:00 to 03:00) runs at the first
  valid instant after it, i.e. the transition itself (03:00 new offset). A local time that happens
  twice (fall back: 01:30 on a day that repeats 01:00-02:00) runs at its first occurrence.
- A digest is due when now is within [send instant, send instant + grace] and now's local date is
  still that date: a service that was down at send time catches up the same local day, never a day
  long past. With one send instant per local date, a 23-hour or 25-hour day still gets one digest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class InvalidSchedule(ValueError):
    """The district's settings name a time or zone this service cannot use."""


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    local_time: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, local_time: str, timezone: str) -> DigestSchedule:
        match = _HHMM.match(local_time or "")
        if not match:
            raise InvalidSchedule(f"digest_local_time {local_time!r} is not HH:MM")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(f"timezone {timezone!r} is not an IANA time zone") from None
        return cls(time(int(match[1]), int(match[2])), zone)


def local_date_of(now: datetime, zone: ZoneInfo) -> date:
    return _aware(now).astimezone(zone).date()


def send_instant(local_date: date, schedule: DigestSchedule) -> datetime:
    """The UTC instant the digest of `local_date` is sent at (see the module docstring)."""
    wall = datetime.combine(local_date, schedule.local_time)
    first = wall.replace(tzinfo=schedule.zone, fold=0)
    if _round_trips(first):
        return first.astimezone(UTC)  # a normal time, or the first of two occurrences
    # Nonexistent: fold=0 reads it with the offset before the jump (later UTC instant), fold=1 with
    # the offset after (earlier UTC instant); the transition lies between them.
    low = wall.replace(tzinfo=schedule.zone, fold=1).astimezone(UTC)
    high = first.astimezone(UTC)
    return _transition_between(low, high, schedule.zone)


def due_local_date(now: datetime, schedule: DigestSchedule, grace: timedelta) -> date | None:
    """The local date whose digest is due at `now`, or None."""
    now = _aware(now).astimezone(UTC)
    today = local_date_of(now, schedule.zone)
    start = send_instant(today, schedule)
    if start <= now <= start + grace:
        return today
    return None


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("clock must return an aware datetime")
    return moment


def _round_trips(local: datetime) -> bool:
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _transition_between(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second in (low, high] whose UTC offset differs from low's."""
    before = low.astimezone(zone).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            lo = middle
        else:
            hi = middle
    return datetime.fromtimestamp(hi, UTC)
