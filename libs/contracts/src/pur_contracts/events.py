"""Every integration event of the system (DESIGN.md sections 2-3)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from .base import Event, Frozen

RequestField = Literal["given_name", "family_name", "email", "phone", "sms"]
REQUEST_FIELDS: tuple[str, ...] = ("given_name", "family_name", "email", "phone", "sms")


# --- settings -------------------------------------------------------------------------------
class NotificationSettings(Frozen):
    daily_digest_enabled: bool = True
    digest_local_time: str = "07:00"
    timezone: str = "America/New_York"


class SisSyncSettings(Frozen):
    contact_details_auto_update: bool = True


class DistrictSettings(Frozen):
    district_id: str
    version: int
    profile_update_requests_enabled: bool = False
    notifications: NotificationSettings = NotificationSettings()
    sis_sync: SisSyncSettings = SisSyncSettings()
    updated_at: datetime | None = None
    updated_by: str | None = None


class DistrictSettingsChanged(Event):
    event_name = "settings.district.changed"
    version: int
    settings: DistrictSettings


class SettingsReplayRequested(Event):
    event_name = "settings.replay.requested"
    district_id: str | None = None  # None: every district
    requested_by: str


# --- directory ------------------------------------------------------------------------------
class UsersManagerScope(Frozen):
    scope: Literal["district", "schools"]
    school_ids: list[str] = Field(default_factory=list)


class UserPermissions(Frozen):
    district_admin: bool = False
    users_manager: UsersManagerScope | None = None


class DirectoryUser(Frozen):
    id: UUID
    district_id: str
    sis_id: str
    role: str
    given_name: str
    family_name: str
    email: str | None = None
    phone: str | None = None
    sms: str | None = None
    school_ids: list[str] = Field(default_factory=list)
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
    id: str
    district_id: str
    name: str
    active: bool = True


class DirectorySchoolUpserted(Event):
    event_name = "directory.school.upserted"
    version: int
    school: DirectorySchool


class DirectoryReplayRequested(Event):
    event_name = "directory.replay.requested"
    district_id: str | None = None
    requested_by: str


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
    district_id: str
    requester_id: UUID
    requester_name: str
    school_ids: list[str]
    status: Literal["new", "done"]
    fields: list[RequestField]
    has_note: bool
    appears_applied: bool
    submitted_at: datetime
    done_at: datetime | None = None
    done_by: str | None = None


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
    district_id: str | None = None
    requested_by: str


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
