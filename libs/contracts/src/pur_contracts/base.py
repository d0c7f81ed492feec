"""The envelope every integration event shares."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# District ids are chosen by the operator at onboarding: a short slug such as `springfield`.
# Every service checks ids against this (paths, query strings, event payloads).
DISTRICT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DistrictId = Annotated[str, StringConstraints(pattern=DISTRICT_ID_PATTERN)]

# Characters no text value of an event may hold: C0/C1 controls (NUL, TAB, CR, LF, ESC, ...), the
# Unicode line/paragraph separators, and the bidirectional embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) that reorder how the text around them is displayed. CR/LF in a name
# becomes a header line in an email; U+202E makes "Eve\u202Enimda" display as "Eveadmin".
# The direction marks LRM/RLM/ALM (U+200E, U+200F, U+061C) stay allowed: they only set the direction
# of neighbouring neutral characters (they cannot reorder or hide a run of text), and names typed in
# right-to-left scripts legitimately carry them. Lone surrogates never get this far (pydantic refuses).
_UNSAFE = r"\x00-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069"
SAFE_TEXT_PATTERN = rf"^[^{_UNSAFE}]*$"
_UNSAFE_CHAR = re.compile(f"[{_UNSAFE}]")
_LINE_BREAKS_AND_TABS = str.maketrans("", "", "\t\r\n")

# Limits of the values events carry, at least as wide as every producer's own rules (HTTP
# submissions take names of at most 100 characters; roster names and ids are bounded here).
NAME_MAX = 200          # a given or family name, a school name
FULL_NAME_MAX = 2 * NAME_MAX + 1
EMAIL_MAX = 254         # RFC 5321 path limit
PHONE_MAX = 64          # roster phones arrive unnormalised ("(555) 555-0123 ext. 12")
SOURCED_ID_MAX = 255    # OneRoster sourcedId: sis ids and school ids
ROLE_MAX = 64
ACTOR_MAX = 64          # "system", a service name or a user id (the columns holding it are 64 wide)
TIMEZONE_MAX = 64       # IANA names are at most ~32 characters
SCHOOL_IDS_MAX = 1000   # schools of one user or one manager scope (the permissions API takes 500)


def SafeText(max_length: int, min_length: int = 1) -> Any:  # noqa: N802 - used like a type
    """A single-line string of `min_length`..`max_length` characters without unsafe characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=SAFE_TEXT_PATTERN)]


def has_unsafe_characters(value: str, *, multiline: bool = False) -> bool:
    """True when `value` holds a character SafeText refuses; `multiline` allows TAB, CR and LF."""
    if multiline:
        value = value.translate(_LINE_BREAKS_AND_TABS)
    return _UNSAFE_CHAR.search(value) is not None


def without_unsafe_characters(value: str) -> str:
    """`value` with each character SafeText refuses replaced by a space: for showing text stored
    before these rules, or coming from a source that does not apply them."""
    return _UNSAFE_CHAR.sub(" ", value)


PersonName = SafeText(NAME_MAX)
FullName = SafeText(FULL_NAME_MAX)
SchoolName = SafeText(NAME_MAX)
Email = SafeText(EMAIL_MAX)
Phone = SafeText(PHONE_MAX)
SourcedId = SafeText(SOURCED_ID_MAX)
Role = SafeText(ROLE_MAX)
Actor = SafeText(ACTOR_MAX)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    # Consumers ignore unknown fields so producers can add fields without breaking anyone.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Frozen):
    """A fact that happened. `event_name` is both the AMQP `type` and the routing key."""

    event_name: ClassVar[str]
    # Bump when the schema changes incompatibly; the exported schema file is keyed by it.
    schema_version: ClassVar[int] = 1

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    district_id: DistrictId
