"""API bodies and answers (docs/product-rules.md). Answers are built as plain dicts; these models
document them in OpenAPI."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pur_contracts import DISTRICT_ID_PATTERN


class DigestRunCreate(BaseModel):
    """Run the digest now: one district (default: the caller's) or, for the operator, every district."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={
        "examples": [{"district_id": "springfield", "dry_run": True}, {"date": "2026-03-09", "dry_run": False}]})

    district_id: StrictStr | None = Field(None, pattern=DISTRICT_ID_PATTERN)
    run_date: dt.date | None = Field(None, alias="date", description="local date (YYYY-MM-DD); default: today there")
    dry_run: StrictBool = False


class PreviewEmail(BaseModel):
    to: str
    subject: str
    text: str
    html: str
    request_ids: list[str]
    recipient_id: str
    district_id: str
    local_date: dt.date
    already_delivered: bool


class DryRunResult(BaseModel):
    emails: list[PreviewEmail]


class DeliveryOutcome(BaseModel):
    recipient_id: str
    delivery_id: str | None
    status: Literal["sent", "retrying", "failed_permanent", "unknown", "skipped"]
    reason: str | None = Field(None, description="why nothing was sent: unsubscribed, already_delivered, "
                                                 "no_email, nothing_new, invalid_email")
    request_count: int


class DistrictRun(BaseModel):
    district_id: str
    local_date: dt.date | None
    status: Literal["completed", "feature_disabled", "digest_disabled", "invalid_schedule"]
    sent: int
    skipped: int
    retrying: int
    failed: int
    errors: int = Field(description="recipients not handled because of an unexpected error")
    deliveries: list[DeliveryOutcome]


class RunResult(BaseModel):
    sent: int
    skipped: int
    retrying: int
    failed: int
    runs: list[DistrictRun]


class RecipientPublic(BaseModel):
    id: str
    name: str | None


class DeliveryPublic(BaseModel):
    id: str
    district_id: str
    local_date: dt.date
    recipient: RecipientPublic
    status: Literal["claimed", "sent", "retrying", "failed_permanent", "unknown", "cancelled"]
    attempts: int
    request_ids: list[str]
    total_open: int
    new_count: int
    claimed_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_error: str | None
    message_id: str
    run_id: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None


class DigestSubscriptionUpdate(BaseModel):
    """The caller's own daily digest: on or off."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"subscribed": False}]})

    subscribed: StrictBool


class DigestSubscriptionPublic(BaseModel):
    subscribed: bool
    changed_at: dt.datetime | None = Field(description="when the caller unsubscribed; null while subscribed")
    via: Literal["email_link", "api"] | None = Field(description="how: the email's one-click link, or this API")
    users_manager: bool = Field(description="an active Users Manager here: otherwise no digest reaches them")
    district_digest_on: bool = Field(description="their district sends digests (feature and preference on)")


class UnsubscribeResult(BaseModel):
    subscribed: Literal[False]
