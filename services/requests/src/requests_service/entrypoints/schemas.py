"""API bodies and answers (docs/product-rules.md). Answers are documented here and built as plain
dicts in views.py: the hot paths skip response-model validation."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictStr

FieldName = Literal["given_name", "family_name", "email", "phone", "sms"]


class RequestCreate(BaseModel):
    """Which fields should change to which values, and/or a note (at least one of the two)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"changes": {"email": "new.address@example.org", "phone": "+15555550123"},
                      "note": "I changed my email address."}]})

    changes: dict[FieldName, StrictStr] = Field(default_factory=dict)
    note: StrictStr | None = None


class RequesterPublic(BaseModel):
    id: UUID
    name: str
    school_ids: list[str]


class ChangePublic(BaseModel):
    field: FieldName
    current: str | None
    requested: str


class RequestPublic(BaseModel):
    id: UUID
    district_id: str
    requester: RequesterPublic
    status: Literal["new", "done"]
    submitted_at: datetime
    changes: list[ChangePublic]
    note: str | None
    appears_applied: bool
    done_at: datetime | None
    done_by: str | None
    version: int


class HistoryEntry(BaseModel):
    action: Literal["submitted", "marked_done", "restored"]
    by: str
    by_name: str | None
    at: datetime


class RequestDetails(RequestPublic):
    history: list[HistoryEntry]


class RequestList(BaseModel):
    items: list[RequestPublic]
    next_cursor: str | None
