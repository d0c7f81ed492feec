"""The fields a request may change, how their values are validated and compared."""
from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from pur_contracts.base import has_unsafe_characters

from .errors import InvalidChange

FIELDS: tuple[str, ...] = ("given_name", "family_name", "email", "phone", "sms")
LABELS = {"given_name": "Given name", "family_name": "Family name", "email": "Email", "phone": "Phone",
          "sms": "SMS number"}
NAME_MAX = 100
EMAIL_MAX = 254
NOTE_MAX = 2000

_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")


def strip_phone(value: str) -> str:
    return _PHONE_SEPARATORS.sub("", value)


def clean_value(field: str, raw: str) -> str:
    """The value to store for a requested change, or InvalidChange naming the field."""
    if field not in FIELDS:
        raise InvalidChange(field, "unknown field")
    value = raw.strip()
    if field in ("given_name", "family_name"):
        if not value:
            raise InvalidChange(field, "must not be empty")
        if len(value) > NAME_MAX:
            raise InvalidChange(field, f"at most {NAME_MAX} characters")
        # The same rule as the directory's events: a line break or a bidi override (U+202E) in a
        # name would reach email headers and every page that shows it.
        if has_unsafe_characters(value):
            raise InvalidChange(field, "must not contain control characters, line breaks or bidirectional "
                                       "override characters")
        return value
    if field == "email":
        if len(value) > EMAIL_MAX:
            raise InvalidChange(field, f"at most {EMAIL_MAX} characters")
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError:
            raise InvalidChange(field, "not a valid email address") from None
    phone = strip_phone(value)
    if not _PHONE.match(phone):
        raise InvalidChange(field, "must be an international number like +15555550123")
    return phone


def comparable(field: str, value: str | None) -> str | None:
    """A form in which two spellings of the same value are equal (email case, phone punctuation)."""
    if value is None:
        return None
    value = value.strip()
    if field == "email":
        return value.lower()
    if field in ("phone", "sms"):
        return strip_phone(value)
    return " ".join(value.split())


def same_value(field: str, a: str | None, b: str | None) -> bool:
    return comparable(field, a) == comparable(field, b)


def clean_note(raw: str | None) -> str | None:
    if raw is None:
        return None
    note = raw.strip()
    if len(note) > NOTE_MAX:
        raise InvalidChange("note", f"at most {NOTE_MAX} characters")
    if has_unsafe_characters(note, multiline=True):  # line breaks and tabs are fine in a note
        raise InvalidChange("note", "must not contain control characters other than line breaks and tabs, "
                                    "nor bidirectional override characters")
    return note or None
