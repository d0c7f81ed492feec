"""Every integration event of the system; who publishes and who consumes each: docs/messages.md."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from .base import (
    SCHOOL_IDS_MAX,
    TIMEZONE_MAX,
    Actor,
    DistrictId,
    Email,
    Event,
    Frozen,
    FullName,
    PersonName,
    Phone,
    Role,
    SafeText,
    SchoolName,
    SourcedId,
)

RequestField = Literal["given_name", "family_name", "email", "phone", "sms"]
REQUEST_FIELDS: tuple[str, ...] = ("given_name", "family_name", "email", "phone", "sms")
LocalTime = Annotated[str, StringConstraints(pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")]
SchoolIds = Annotated[list[SourcedId], Field(max_length=SCHOOL_IDS_MAX)]
TimeZoneName = SafeText(TIMEZONE_MAX)


# --- settings -------------------------------------------------------------------------------
class NotificationSettings(Frozen):
    daily_digest_enabled: bool = True
    digest_local_time: LocalTime = "07:00"
    timezone: TimeZoneName = "America/New_York"


class SisSyncSettings(Frozen):
    contact_details_auto_update: bool = True


class DistrictSettings(Frozen):
    district_id: DistrictId
    version: int
    profile_update_requests_enabled: bool = False
    notifications: NotificationSettings = NotificationSettings()
    sis_sync: SisSyncSettings = SisSyncSettings()
    updated_at: datetime | None = None
    updated_by: Actor | None = None


class DistrictSettingsChanged(Event):
    event_name = "settings.district.changed"
    version: int
    settings: DistrictSettings


class SettingsReplayRequested(Event):
    event_name = "settings.replay.requested"
    district_id: DistrictId | None = None  # None: every district
    requested_by: Actor


# --- directory ------------------------------------------------------------------------------
class UsersManagerScope(Frozen):
    scope: Literal["district", "schools"]
    school_ids: SchoolIds = Field(default_factory=list)


class UserPermissions(Frozen):
    district_admin: bool = False
    users_manager: UsersManagerScope | None = None


class DirectoryUser(Frozen):
    id: UUID
    district_id: DistrictId
    sis_id: SourcedId
    role: Role
    given_name: PersonName
    family_name: PersonName
    email: Email | None = None
    phone: Phone | None = None
    sms: Phone | None = None
    school_ids: SchoolIds = Field(default_factory=list)
    active: bool = True
    permissions: UserPermissions = UserPermissions()


class DirectoryUserUpserted(Event):
    event_name = "directory.user.upserted"
    version: int
    user: DirectoryUser


class DirectoryUserDeactivated(Event):
    event_name = "directory.user.deactivated"
    version: int
    user: DirectoryUser


class DirectorySchool(Frozen):
    id: SourcedId
    district_id: DistrictId
    name: SchoolName
    active: bool = True


class DirectorySchoolUpserted(Event):
    event_name = "directory.school.upserted"
    version: int
    school: DirectorySchool


class DirectoryReplayRequested(Event):
    event_name = "directory.replay.requested"
    district_id: DistrictId | None = None
    requested_by: Actor


class SyncCounts(Frozen):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejected: int = 0


class SisSyncCompleted(Event):
    event_name = "sis.sync.completed"
    run_id: UUID
    status: Literal["succeeded", "failed"]
    counts: SyncCounts


# --- requests -------------------------------------------------------------------------------
class RequestSnapshot(Frozen):
    """What other services may know of a request: field names, never the requested values."""

    id: UUID
    district_id: DistrictId
    requester_id: UUID
    requester_name: FullName
    school_ids: SchoolIds
    status: Literal["new", "done"]
    fields: Annotated[list[RequestField], Field(max_length=len(REQUEST_FIELDS))]
    has_note: bool
    appears_applied: bool
    submitted_at: datetime
    done_at: datetime | None = None
    done_by: Actor | None = None


class _RequestEvent(Event):
    version: int
    request: RequestSnapshot


class RequestSubmitted(_RequestEvent):
    event_name = "request.submitted"


class RequestMarkedDone(_RequestEvent):
    event_name = "request.marked_done"


class RequestRestored(_RequestEvent):
    event_name = "request.restored"


class RequestAppearsAppliedChanged(_RequestEvent):
    event_name = "request.appears_applied_changed"


class RequestsReplayRequested(Event):
    event_name = "requests.replay.requested"
    district_id: DistrictId | None = None
    requested_by: Actor


# --- digest ---------------------------------------------------------------------------------
class DigestSent(Event):
    event_name = "digest.sent"
    delivery_id: UUID
    recipient_id: UUID
    local_date: date
    request_count: int


ALL_EVENTS: tuple[type[Event], ...] = (
    DistrictSettingsChanged,
    SettingsReplayRequested,
    DirectoryUserUpserted,
    DirectoryUserDeactivated,
    DirectorySchoolUpserted,
    DirectoryReplayRequested,
    SisSyncCompleted,
    RequestSubmitted,
    RequestMarkedDone,
    RequestRestored,
    RequestAppearsAppliedChanged,
    RequestsReplayRequested,
    DigestSent,
)
EVENTS_BY_NAME: dict[str, type[Event]] = {e.event_name: e for e in ALL_EVENTS}
