"""In-memory repositories with the interface of the real ones (`requests_service.adapters`), and the
part of `pur_kit.uow.Database` the submission writer uses: the service layer's unit tests run on
these, without a database.

They keep what the SQL keeps: the requests (a copy of each, as a row would be), the history, the
Idempotency-Keys, the version-gated projections, and the events that the repositories' own
statements write to the outbox (`outbox`), which a unit of work's `published` does not see.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from uuid import UUID

from pur_contracts import DirectorySchool, DirectoryUser, Event
from pur_kit.uow import FairGate
from requests_service.adapters.request_store import NewRequest, SubmissionContext
from requests_service.domain.changes import FIELDS
from requests_service.domain.model import DistrictPolicy, ProfileUpdateRequest, Requester


def _row(request: ProfileUpdateRequest) -> ProfileUpdateRequest:
    """What a read gives back: a copy without the events its changes recorded."""
    return dataclasses.replace(request, school_ids=list(request.school_ids), changes=dict(request.changes), events=[])


class FakeProjections:
    def __init__(self) -> None:
        self.settings: dict[str, dict] = {}
        self.schools: dict[tuple[str, str], dict] = {}
        self.users: dict[UUID, tuple[int, DirectoryUser]] = {}

    async def save_settings(self, district_id: str, version: int, *, requests_enabled: bool,
                            contact_details_auto_update: bool, timezone: str, at: datetime) -> bool:
        stored = self.settings.get(district_id)
        if stored and (stored["version"] > version or (stored["version"] == version and stored["timezone"])):
            return False
        self.settings[district_id] = {"version": version, "requests_enabled": requests_enabled,
                                      "contact_details_auto_update": contact_details_auto_update,
                                      "timezone": timezone, "updated_at": at}
        return True

    async def save_school(self, school: DirectorySchool, version: int) -> bool:
        key = (school.district_id, school.id)
        if key in self.schools and self.schools[key]["version"] >= version:
            return False
        self.schools[key] = {"version": version, "name": school.name, "active": school.active}
        return True

    async def save_user(self, user: DirectoryUser, version: int) -> bool:
        if user.id in self.users and self.users[user.id][0] >= version:
            return False
        self.users[user.id] = (version, user)
        return True

    async def has_settings(self) -> bool:
        return bool(self.settings) and all(s["timezone"] for s in self.settings.values())

    async def has_users(self) -> bool:
        return bool(self.users)


class FakeRequests:
    def __init__(self, projections: FakeProjections) -> None:
        self._projections = projections
        self.rows: dict[UUID, ProfileUpdateRequest] = {}
        self.keys: dict[tuple[UUID, str], tuple[UUID, str | None]] = {}  # (requester, key) -> (id, fingerprint)
        self.history: list[tuple[UUID, str, str, datetime]] = []
        self.outbox: list[Event] = []
        self.reindexed: list[UUID] = []    # requests whose school rows were rewritten
        self.inserts: list[int] = []       # submissions per insert statement
        self.context_reads = 0

    def add(self, request: ProfileUpdateRequest) -> None:
        self.rows[request.id] = _row(request)

    async def submission_contexts(self, keys: Sequence[tuple[UUID, str, str | None]]) -> list[SubmissionContext]:
        self.context_reads += 1
        contexts = []
        for user_id, district_id, key in keys:
            _, user = self._projections.users.get(user_id, (0, None))
            requester = None if user is None else Requester(
                id=user.id, district_id=user.district_id, given_name=user.given_name,
                family_name=user.family_name, school_ids=tuple(user.school_ids), active=user.active,
                current={f: getattr(user, f) for f in FIELDS})
            settings = self._projections.settings.get(district_id)
            policy = (DistrictPolicy() if settings is None
                      else DistrictPolicy(settings["requests_enabled"], settings["contact_details_auto_update"]))
            existing_id, existing_fingerprint = self.keys.get((user_id, key), (None, None))
            contexts.append(SubmissionContext(requester, policy, existing_id, existing_fingerprint))
        return contexts

    async def insert_submitted(self, rows: Sequence[NewRequest]) -> set[UUID]:
        self.inserts.append(len(rows))
        written = set()
        for row in rows:
            r = row.request
            if row.idempotency_key is not None:
                if (r.requester_id, row.idempotency_key) in self.keys:
                    continue
                self.keys[(r.requester_id, row.idempotency_key)] = (r.id, row.fingerprint)
            self.add(r)
            self.history.append((r.id, "submitted", row.by, r.submitted_at))
            self.outbox += r.events
            written.add(r.id)
        return written

    async def load_for_update(self, request_id: UUID) -> ProfileUpdateRequest | None:
        request = self.rows.get(request_id)
        return None if request is None else _row(request)

    async def save_transition(self, request: ProfileUpdateRequest, *, action: str, by: str, at: datetime,
                              events: Sequence[Event]) -> None:
        self.add(request)
        self.history.append((request.id, action, by, at))
        self.outbox += events

    async def of_requester_for_update(self, requester_id: UUID) -> list[ProfileUpdateRequest]:
        return [_row(r) for r in self.rows.values() if r.requester_id == requester_id]

    async def save_requester_refresh(self, request: ProfileUpdateRequest, *, schools_changed: bool) -> None:
        self.add(request)
        if schools_changed:
            self.reindexed.append(request.id)

    async def page(self, *, after: UUID | None, district_id: str | None, limit: int) -> list[ProfileUpdateRequest]:
        rows = sorted((r for r in self.rows.values()
                       if (district_id is None or r.district_id == district_id) and (after is None or r.id > after)),
                      key=lambda r: r.id)
        return [_row(r) for r in rows[:limit]]


class FakeRepositories:
    def __init__(self) -> None:
        self.projections = FakeProjections()
        self.requests = FakeRequests(self.projections)


class FakeDatabase:
    """A pool of `size` connections (with the kit's FIFO gate) and the relay's wake-ups."""

    def __init__(self, repos: FakeRepositories, size: int = 1) -> None:
        self._repos = repos
        self._gate = FairGate(size)
        self.wakeups = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        await self._gate.acquire()
        try:
            yield None
        finally:
            self._gate.release()

    @contextlib.asynccontextmanager
    async def repositories(self) -> AsyncIterator[FakeRepositories]:
        async with self.acquire():
            yield self._repos

    def has_idle_connection(self) -> bool:
        return self._gate.idle()

    def events_committed(self) -> None:
        self.wakeups += 1


async def let_others_run() -> None:
    """One turn of the event loop: tasks created so far run up to their first wait."""
    await asyncio.sleep(0)


# --- bulk Mark as Done / Restore (added with the Manage Requests queue) ------------------------------
async def _load_many_for_update(self: FakeRequests, request_ids: Sequence[UUID]) -> list[ProfileUpdateRequest]:
    return [_row(self.rows[i]) for i in sorted(set(request_ids)) if i in self.rows]


async def _save_transitions(self: FakeRequests, requests: Sequence[ProfileUpdateRequest], *, action: str, by: str,
                            at: datetime) -> None:
    self.statements = getattr(self, "statements", 0) + 1   # one statement for the whole set
    for request in requests:
        self.add(request)
        self.history.append((request.id, action, by, at))
        self.outbox += request.events


FakeRequests.load_many_for_update = _load_many_for_update
FakeRequests.save_transitions = _save_transitions
