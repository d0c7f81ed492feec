"""Route parameter types the services share: district ids and free-text filters.

They are checked before the handler runs, so a malformed value is a 422 naming the parameter. Left
unchecked, it reached PostgreSQL (a text value cannot hold NUL: a 500) or an event contract (which
refused it only after the handler had done its work: a 500). An empty `district_id=` is malformed;
an empty text filter is no filter.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pur_contracts import DISTRICT_ID_PATTERN
from pur_contracts.base import SAFE_TEXT_PATTERN

_DISTRICT = "A district id, e.g. springfield: a letter or digit, then letters, digits, '.', '_' or '-' (64 at most)"

DistrictIdPath = Annotated[str, Path(pattern=DISTRICT_ID_PATTERN, description=_DISTRICT)]
DistrictIdQuery = Annotated[str | None, Query(pattern=DISTRICT_ID_PATTERN, description=_DISTRICT)]


def TextQuery(max_length: int, description: str | None = None):  # noqa: N802 - used like a type
    """An optional one-line text filter of at most `max_length` characters, without control characters."""
    return Annotated[str | None, Query(max_length=max_length, pattern=SAFE_TEXT_PATTERN, description=description)]
