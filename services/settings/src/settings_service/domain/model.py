"""District settings: defaults, the JSON-merge of a change, and versioning.

A district that was never configured reads as `DistrictSettings(district_id)` at version 0. Every
real change produces the next version and records who made it and when; a change that leaves
every value as it was is not a change (no new version, nothing to announce).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from .rules import (
    LOCAL_TIME_MESSAGE,
    TIMEZONE_MESSAGE,
    InvalidSetting,
    is_local_time,
    is_timezone,
)

DEFAULT_LOCAL_TIME = "07:00"
DEFAULT_TIMEZONE = "America/New_York"
UNKNOWN_DISTRICT_MESSAGE = "unknown district: import its roster first"


class UnknownDistrict(Exception):
    """Settings exist only for districts the directory has told us of: a district is created by its
    first roster import, so an id nobody imported is a typo or a probe, not a district to configure."""

    def __init__(self, district_id: str) -> None:
        super().__init__(UNKNOWN_DISTRICT_MESSAGE)
        self.district_id = district_id


@dataclass(frozen=True, slots=True)
class Notifications:
    """When the Users Managers who handle requests get their daily digest."""

    daily_digest_enabled: bool = True
    digest_local_time: str = DEFAULT_LOCAL_TIME
    timezone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class SisSync:
    contact_details_auto_update: bool = True


@dataclass(frozen=True, slots=True)
class DistrictSettings:
    district_id: str
    version: int = 0
    profile_update_requests_enabled: bool = False
    notifications: Notifications = field(default_factory=Notifications)
    sis_sync: SisSync = field(default_factory=SisSync)
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def configured(self) -> bool:
        return self.version > 0

    def changed(self, changes: Mapping[str, Any], *, by: str, at: datetime) -> DistrictSettings | None:
        """The next version with `changes` merged in, or None when no value would change.

        `changes` is a JSON merge: top-level values replace, the nested `notifications` and
        `sis_sync` objects merge field by field. Every value is checked here, whatever the caller.
        """
        merged = _merge(self, changes, "")
        if _values(merged) == _values(self):
            return None
        return replace(merged, version=self.version + 1, updated_at=at, updated_by=by)


_NESTED = {"notifications": Notifications, "sis_sync": SisSync}
_EDITABLE = ("profile_update_requests_enabled", "notifications", "sis_sync")
_BOOLEANS = {"profile_update_requests_enabled", "daily_digest_enabled", "contact_details_auto_update"}


def _merge(target: Any, changes: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(changes, Mapping):
        raise InvalidSetting(prefix.rstrip(".") or "body", "must be an object")
    allowed = _EDITABLE if isinstance(target, DistrictSettings) else tuple(f.name for f in fields(target))
    updates: dict[str, Any] = {}
    for name, value in changes.items():
        path = f"{prefix}{name}"
        if name not in allowed:
            raise InvalidSetting(path, "unknown field")
        if name in _NESTED:
            updates[name] = _merge(getattr(target, name), value, f"{path}.")
        else:
            _check(path, name, value)
            updates[name] = value
    return replace(target, **updates)


def _check(path: str, name: str, value: Any) -> None:
    if name in _BOOLEANS and not isinstance(value, bool):
        raise InvalidSetting(path, "must be true or false")
    if name == "digest_local_time" and not is_local_time(value):
        raise InvalidSetting(path, LOCAL_TIME_MESSAGE)
    if name == "timezone" and not is_timezone(value):
        raise InvalidSetting(path, TIMEZONE_MESSAGE)


def _values(settings: DistrictSettings) -> tuple:
    return (settings.profile_update_requests_enabled, settings.notifications, settings.sis_sync)
