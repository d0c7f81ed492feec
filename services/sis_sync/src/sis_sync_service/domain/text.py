"""Which text may enter the directory, whatever its source (roster, HTTP, CLI): the contract's rules
(libs/contracts base.py), since every directory value ends up in an event that consumers validate.

Control characters (NUL, TAB, CR, LF, ...) and line separators let a value break out of the line
or header it is written into (an email header, a log line); bidirectional overrides and isolates
(U+202A-U+202E, U+2066-U+2069) make a name display as something it is not.
"""
from __future__ import annotations

from pur_contracts.base import (
    EMAIL_MAX,
    NAME_MAX,
    PHONE_MAX,
    SCHOOL_IDS_MAX,
    SOURCED_ID_MAX,
    has_unsafe_characters,
    without_unsafe_characters,
)

__all__ = ["EMAIL_MAX", "NAME_MAX", "PHONE_MAX", "SCHOOL_IDS_MAX", "SOURCED_ID_MAX", "has_unsafe_characters",
           "printable", "refusal"]

REFUSED = "contains a control, line-separator or bidirectional-override character"


def refusal(value: str) -> str | None:
    """Why `value` may not enter the directory, or None. Names the first refused character's code
    point (so the sender can find it), never the value."""
    if not has_unsafe_characters(value):
        return None
    char = next(c for c in value if has_unsafe_characters(c))
    return f"{REFUSED} (U+{ord(char):04X})"


def printable(value: str, limit: int = 255) -> str:
    """A label safe to store and show (e.g. an uploaded file's name): refused characters become spaces."""
    return without_unsafe_characters(value)[:limit]
