"""Who may read and who may change a district's settings.

The token only says who is calling; what they may do comes from this service's projection of the
directory. Another district's people get `not_found`, so nothing about the district leaks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Decision = Literal["allowed", "not_found", "forbidden"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal: a person of a district, or the system credential."""

    user_id: UUID | None
    district_id: str | None
    is_system: bool = False

    @property
    def name(self) -> str:
        """What `updated_by` records."""
        return "system" if self.is_system else str(self.user_id)


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    """What the directory says about the caller (None when it has not told us yet)."""

    district_id: str
    active: bool
    district_admin: bool


def may_read(caller: Caller, record: DirectoryRecord | None, district_id: str) -> Decision:
    """Any person of the district (the submit page needs the toggle), or the system."""
    if caller.is_system:
        return "allowed"
    if caller.district_id != district_id or (record is not None and record.district_id != district_id):
        return "not_found"
    # Unknown to the projection yet: the token's district is enough to read non-personal settings.
    if record is not None and not record.active:
        return "forbidden"
    return "allowed"


def may_change(caller: Caller, record: DirectoryRecord | None, district_id: str) -> Decision:
    """Only an active district administrator of that very district, or the system."""
    if caller.is_system:
        return "allowed"
    if caller.district_id != district_id or (record is not None and record.district_id != district_id):
        return "not_found"
    if record is None or not record.active or not record.district_admin:
        return "forbidden"
    return "allowed"
