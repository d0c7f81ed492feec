"""API bodies: `DistrictSettingsUpdate` (a JSON merge, strict) and `DistrictSettingsPublic`.

An absent field is left unchanged; `null` is refused (there is no "unset": send the value). Strict
types: a string "yes" for a toggle or a number for a time is a 422 naming the field.
"""
from __future__ import annotations

from typing import Annotated

import pur_contracts
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from ..domain.rules import LOCAL_TIME_MESSAGE, TIMEZONE_MESSAGE, is_local_time, is_timezone


def _local_time(value: str) -> str:
    if not is_local_time(value):
        raise PydanticCustomError("local_time", LOCAL_TIME_MESSAGE)
    return value


def _timezone(value: str) -> str:
    if not is_timezone(value):
        raise PydanticCustomError("timezone", TIMEZONE_MESSAGE)
    return value


LocalTime = Annotated[StrictStr, AfterValidator(_local_time)]
TimeZone = Annotated[StrictStr, AfterValidator(_timezone)]


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotificationsUpdate(_Patch):
    daily_digest_enabled: StrictBool = Field(None, description="Send the daily digest of New requests")
    digest_local_time: LocalTime = Field(None, description="Local send time, HH:MM (00:00-23:59)",
                                         examples=["07:00"])
    timezone: TimeZone = Field(None, description="IANA time zone name", examples=["America/Chicago"])


class SisSyncUpdate(_Patch):
    contact_details_auto_update: StrictBool = Field(
        None, description="Contact details are updated automatically from the SIS")


class DistrictSettingsUpdate(_Patch):
    """Only the fields given change; nested objects merge field by field."""

    profile_update_requests_enabled: StrictBool = Field(
        None, description="Allow Users to Send Profile Update Requests (off by default)")
    notifications: NotificationsUpdate = None
    sis_sync: SisSyncUpdate = None

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class DistrictSettingsPublic(pur_contracts.DistrictSettings):
    """A district's settings; a never-configured district reads as the defaults at version 0."""


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Dotted field path -> message, first error per field (e.g. `notifications.timezone`)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "body"
        errors.setdefault(path, error["msg"])
    return errors
