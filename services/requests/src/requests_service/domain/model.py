"""A profile update request and its rules: submission, Mark as Done, Restore, appears applied.

Pure: no I/O. Methods change the request and record the integration events the change implies;
the service layer writes both in one transaction.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from pur_contracts import (
    Event,
    RequestAppearsAppliedChanged,
    RequestMarkedDone,
    RequestRestored,
    RequestSnapshot,
    RequestSubmitted,
)

from .changes import FIELDS, clean_note, clean_value, same_value
from .errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit
from .ids import uuid7

DISABLED_SIS_OWNS_CONTACTS = (
    "Profile update requests are turned off in your district. Your contact details come from the SIS "
    "(the school's student information system): please ask your school office to change them."
)
DISABLED_SELF_SERVICE = (
    "Profile update requests are turned off in your district. You can edit your own email, phone and "
    "SMS number on your My contact details page."
)


@dataclass(frozen=True, slots=True)
class Requester:
    """What the directory projection says about the person submitting."""

    id: UUID
    district_id: str
    given_name: str
    family_name: str
    school_ids: tuple[str, ...]
    active: bool
    current: Mapping[str, str | None]  # field -> current directory value

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


@dataclass(frozen=True, slots=True)
class DistrictPolicy:
    """The district settings that matter here; a district without settings gets the defaults."""

    requests_enabled: bool = False
    contact_details_auto_update: bool = True

    def refusal(self) -> str | None:
        if self.requests_enabled:
            return None
        return DISABLED_SIS_OWNS_CONTACTS if self.contact_details_auto_update else DISABLED_SELF_SERVICE


@dataclass
class ProfileUpdateRequest:
    id: UUID
    district_id: str
    requester_id: UUID
    requester_name: str
    school_ids: list[str]
    status: str
    changes: dict[str, str]  # field -> requested value, in FIELDS order
    note: str | None
    appears_applied: bool
    submitted_at: datetime
    done_at: datetime | None = None
    done_by: str | None = None
    version: int = 1
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    # --- commands ---------------------------------------------------------------------------
    def mark_done(self, by: str, at: datetime) -> bool:
        """False (and nothing recorded) when it already is done: repeating is harmless."""
        if self.status == "done":
            return False
        self.status, self.done_at, self.done_by = "done", at, by
        self._bump(RequestMarkedDone, at)
        return True

    def restore(self, by: str, at: datetime) -> bool:
        if self.status == "new":
            return False
        self.status, self.done_at, self.done_by = "new", None, None
        self._bump(RequestRestored, at)
        return True

    def refresh_appears_applied(self, current: Mapping[str, str | None], at: datetime) -> bool:
        """A New request whose every requested value is now the directory's value appears applied."""
        if self.status != "new":
            return False
        applied = bool(self.changes) and all(
            same_value(f, current.get(f), requested) for f, requested in self.changes.items())
        if applied == self.appears_applied:
            return False
        self.appears_applied = applied
        self._bump(RequestAppearsAppliedChanged, at)
        return True

    def refresh_requester(self, name: str, school_ids: list[str]) -> bool:
        """Keep the requester's name and schools current: they decide search and who sees it.

        Bumps the version without an event: the contract has no "requester changed" event, and
        the digest follows the directory itself. The next request event carries the new snapshot.
        """
        if name == self.requester_name and sorted(school_ids) == sorted(self.school_ids):
            return False
        self.requester_name, self.school_ids = name, list(school_ids)
        self.version += 1
        return True

    # --- views ------------------------------------------------------------------------------
    def snapshot(self) -> RequestSnapshot:
        return RequestSnapshot(
            id=self.id, district_id=self.district_id, requester_id=self.requester_id,
            requester_name=self.requester_name, school_ids=list(self.school_ids), status=self.status,
            fields=list(self.changes), has_note=self.note is not None, appears_applied=self.appears_applied,
            submitted_at=self.submitted_at, done_at=self.done_at, done_by=self.done_by,
        )

    def _bump(self, event_class: type, at: datetime) -> None:
        self.version += 1
        self.events.append(event_class(event_id=uuid7(), district_id=self.district_id, occurred_at=at,
                                       version=self.version, request=self.snapshot()))


def submit(*, request_id: UUID, requester: Requester | None, district_id: str, policy: DistrictPolicy,
           changes: Mapping[str, str], note: str | None, now: datetime) -> ProfileUpdateRequest:
    """The submission rules (docs/product-rules.md), in the order a caller meets them."""
    if requester is None or not requester.active or requester.district_id != district_id:
        raise NotAllowedToSubmit("only an active user of the district can submit a request")
    if (reason := policy.refusal()) is not None:
        raise FeatureDisabled(reason)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise InvalidChange(sorted(unknown)[0], "unknown field")
    cleaned: dict[str, str] = {}
    for name in FIELDS:
        if name not in changes:
            continue
        value = clean_value(name, changes[name])
        if same_value(name, requester.current.get(name), value):
            raise InvalidChange(name, "equal to the current value")
        cleaned[name] = value
    cleaned_note = clean_note(note)
    if not cleaned and cleaned_note is None:
        raise InvalidChange("changes", "ask for at least one change or write a note")
    request = ProfileUpdateRequest(
        id=request_id, district_id=district_id, requester_id=requester.id, requester_name=requester.name,
        school_ids=list(requester.school_ids), status="new", changes=cleaned, note=cleaned_note,
        appears_applied=False, submitted_at=now, version=1,
    )
    request.events.append(RequestSubmitted(event_id=uuid7(), district_id=district_id, occurred_at=now, version=1,
                                           request=request.snapshot()))
    return request
