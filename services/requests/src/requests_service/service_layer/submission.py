"""Submitting a request: load the requester and the district policy, apply the rules, write."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from ..adapters import request_store
from ..adapters.db import Database
from ..domain import model
from ..domain.changes import FIELDS
from ..domain.errors import DomainError
from ..domain.ids import uuid7


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came with a different body (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class Submitted:
    request_id: UUID
    created: bool  # False: an earlier submission with the same Idempotency-Key
    request: model.ProfileUpdateRequest | None = None  # the new request (when created)
    current: Mapping[str, str | None] | None = None    # the requester's directory values


def fingerprint(changes: Mapping[str, str], note: str | None) -> str:
    body = json.dumps({"changes": dict(changes), "note": note}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def requester_of(row) -> model.Requester | None:
    if row["user_id"] is None:
        return None
    return model.Requester(
        id=row["user_id"], district_id=row["district_id"], given_name=row["given_name"],
        family_name=row["family_name"], school_ids=tuple(row["school_ids"]), active=row["active"],
        current={f: row[f] for f in FIELDS},
    )


def policy_of(row) -> model.DistrictPolicy:
    if row["profile_update_requests_enabled"] is None:
        return model.DistrictPolicy()  # no settings received yet: the defaults (feature off)
    return model.DistrictPolicy(row["profile_update_requests_enabled"], row["contact_details_auto_update"])


async def submit_request(db: Database, *, user_id: UUID, district_id: str, changes: Mapping[str, str],
                         note: str | None, idempotency_key: str | None) -> Submitted:
    key_fingerprint = fingerprint(changes, note) if idempotency_key else None
    async with db.acquire() as conn:
        row = await request_store.submission_context(conn, user_id, district_id, idempotency_key)
        if row["existing_id"] is not None:
            return _replayed(row["existing_id"], row["idempotency_fingerprint"], key_fingerprint)
        request = model.submit(
            request_id=uuid7(), requester=requester_of(row), district_id=district_id, policy=policy_of(row),
            changes=changes, note=note, now=datetime.now(UTC),
        )
        if await request_store.insert_submitted(conn, request, by=str(user_id), idempotency_key=idempotency_key,
                                                fingerprint=key_fingerprint):
            db.events_committed()
            return Submitted(request.id, True, request, requester_of(row).current)
        # A concurrent retry with the same key committed first: answer with its request.
        row = await request_store.submission_context(conn, user_id, district_id, idempotency_key)
        return _replayed(row["existing_id"], row["idempotency_fingerprint"], key_fingerprint)


def _replayed(existing_id: UUID, stored: str | None, presented: str | None) -> Submitted:
    if stored is not None and stored != presented:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request body")
    return Submitted(existing_id, False)
