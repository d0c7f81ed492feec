"""Value rules of district settings: the local send time and the time zone."""
from __future__ import annotations

import re
import zoneinfo
from functools import cache

_LOCAL_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", re.ASCII)
TIMEZONE_MAX_LENGTH = 64


class InvalidSetting(ValueError):
    """A value the settings cannot take; `field` is its dotted path, e.g. `notifications.timezone`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@cache
def known_timezones() -> frozenset[str]:
    """The IANA names of this machine's time zone database (scanned once)."""
    return frozenset(zoneinfo.available_timezones())


def is_local_time(value: object) -> bool:
    """`HH:MM` on a 24-hour clock, 00:00 to 23:59, with both digits of each part."""
    return isinstance(value, str) and _LOCAL_TIME.fullmatch(value) is not None


def is_timezone(value: object) -> bool:
    return isinstance(value, str) and len(value) <= TIMEZONE_MAX_LENGTH and value in known_timezones()


LOCAL_TIME_MESSAGE = "must be a time of day as HH:MM, from 00:00 to 23:59"
TIMEZONE_MESSAGE = "Unknown time zone"
