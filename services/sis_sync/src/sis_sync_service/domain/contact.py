"""Validation of contact details a user edits themselves (email, phone, SMS number)."""
from __future__ import annotations

import re

from .errors import InvalidValue
from .text import refusal

CONTACT_FIELDS = ("email", "phone", "sms")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_E164ISH = re.compile(r"^\+?[1-9]\d{6,14}$")


def normalize_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidValue("email", "is not a valid email address")
    return value


def normalize_phone(field: str, value: str) -> str:
    """E.164 style: an optional '+', then 7 to 15 digits; spaces, dots, dashes and brackets are dropped."""
    compact = _PHONE_SEPARATORS.sub("", value.strip())
    if not _E164ISH.match(compact):
        raise InvalidValue(field, "must be a phone number in E.164 style, e.g. +15555550123")
    return compact


def normalize_contact_changes(changes: dict[str, str | None]) -> dict[str, str | None]:
    """Validated values by field; None (or an empty string) clears a field."""
    if not changes:
        raise InvalidValue("body", "give at least one of email, phone, sms")
    result: dict[str, str | None] = {}
    for field, value in changes.items():
        if field not in CONTACT_FIELDS:
            raise InvalidValue(field, "is not a contact field")
        if value is not None and (reason := refusal(value)):
            raise InvalidValue(field, reason)  # even where normalising would drop it: say so, do not guess
        if value is None or not value.strip():
            result[field] = None
        elif field == "email":
            result[field] = normalize_email(value)
        else:
            result[field] = normalize_phone(field, value)
    return result
