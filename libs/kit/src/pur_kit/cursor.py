"""Opaque keyset cursors: the sort key of a page's last row, as the token of `?cursor=`.

A token is unpadded URL-safe base64 of a JSON array. `decode` accepts only what `encode` could
have written for the given types, so a forged or garbled token is a `BadCursor` (a 422 naming
`cursor`: `http.create_app` answers it) and never a value the database refuses with a 500: a NUL
or a lone surrogate in text, a timestamp without a zone, an integer beyond bigint.
"""
from __future__ import annotations

import base64
import json
from datetime import date, datetime
from uuid import UUID

_BIGINT = 2**63
_KINDS = (str, int, UUID, date, datetime)


class BadCursor(ValueError):
    field = "cursor"

    def __init__(self) -> None:
        super().__init__("cursor: not a cursor from this list")


def encode(values: tuple) -> str:
    """The token of a position; values are str, int, UUID, date or (zone-aware) datetime."""
    raw = json.dumps([_plain(v) for v in values], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, types: tuple[type, ...]) -> tuple:
    """The position `encode` wrote, one value per type; BadCursor for anything else."""
    if not all(kind in _KINDS for kind in types):
        raise TypeError(f"cursor values are of the types {_KINDS}")
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("shape")
        return tuple(_parse(value, kind) for value, kind in zip(values, types, strict=True))
    except (ValueError, TypeError, RecursionError):
        raise BadCursor from None


def _plain(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a cursor's timestamps carry their zone")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise TypeError(f"a cursor holds str, int, UUID, date and datetime values, not {type(value).__name__}")


def _parse(value, kind: type):
    if kind is int:
        if type(value) is not int or not -_BIGINT <= value < _BIGINT:
            raise ValueError("int")
        return value
    if not isinstance(value, str):
        raise ValueError("text")
    if kind is str:
        if "\x00" in value:
            raise ValueError("NUL")
        value.encode()  # a lone surrogate (from a forged \ud800) cannot reach the database
        return value
    if kind is UUID:
        return UUID(value)
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed
    return date.fromisoformat(value)
