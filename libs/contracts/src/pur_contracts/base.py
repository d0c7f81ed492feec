"""The envelope every integration event shares."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    # Consumers ignore unknown fields so producers can add fields without breaking anyone.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Frozen):
    """A fact that happened. `event_name` is both the AMQP `type` and the routing key."""

    event_name: ClassVar[str]
    # Bump when the schema changes incompatibly; the exported schema file is keyed by it.
    schema_version: ClassVar[int] = 1

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    district_id: str
