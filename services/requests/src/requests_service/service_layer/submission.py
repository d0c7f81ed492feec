"""Submitting a request: load the requester and the district policy, apply the rules, write.

A submission needs no unit of work: its one write is a single statement, atomic by itself, that
stores the requests and their events (`pur_kit.uow.outbox_insert`), so it runs on a pooled
connection without a transaction and then wakes the relay itself (`Database.events_committed`).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prometheus_client import Histogram
from pur_kit.logging import current_correlation_id
from pur_kit.uow import Database

from ..adapters.repositories import Repositories
from ..adapters.request_store import NewRequest, RequestRepository, SubmissionContext
from ..domain import model
from ..domain.errors import DomainError
from ..domain.ids import uuid7


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came with a different body."""


@dataclass(frozen=True, slots=True)
class Submitted:
    request_id: UUID
    created: bool  # False: an earlier submission with the same Idempotency-Key
    request: model.ProfileUpdateRequest | None = None  # the new request (when created)
    current: Mapping[str, str | None] | None = None    # the requester's directory values


def fingerprint(changes: Mapping[str, str], note: str | None) -> str:
    body = json.dumps({"changes": dict(changes), "note": note}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(slots=True)
class _Submission:
    user_id: UUID
    district_id: str
    changes: Mapping[str, str]
    note: str | None
    idempotency_key: str | None
    fingerprint: str | None
    correlation_id: str | None
    answer: asyncio.Future


GROUP_SIZE = Histogram("requests_submission_group_size", "submissions written by one statement",
                       buckets=(1, 2, 4, 8, 16, 32, 64))


class SubmissionWriter:
    """Writes submissions: one at a time while a database connection is free, in groups while not.

    A submission that finds a free connection is written at once (a context read and one insert
    statement). One that arrives while every connection is busy joins the group waiting for the
    next free connection, and the whole group is written by the same two statements ("smart
    batching"): at light traffic nothing waits for a batch, and under load the database work per
    submission shrinks just when it matters. Each submission keeps its own answer: refusals by
    the rules, Idempotency-Key replays and conflicts are decided per submission, before the write;
    what reaches the write has been validated, so only an outage fails the group (503 to each).
    """

    def __init__(self, db: Database[Repositories], max_group: int = 64) -> None:
        self._db = db
        self._max_group = max_group
        self._forming: list[_Submission] | None = None
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, *, user_id: UUID, district_id: str, changes: Mapping[str, str], note: str | None,
                     idempotency_key: str | None) -> Submitted:
        item = _Submission(user_id, district_id, changes, note, idempotency_key,
                           fingerprint(changes, note) if idempotency_key else None, current_correlation_id(),
                           asyncio.get_running_loop().create_future())
        if (self._forming is None and self._db.has_idle_connection()) or self._max_group == 1:
            async with self._db.repositories() as repos:
                await self._write(repos.requests, [item])
        else:
            if self._forming is None:
                self._forming = []
                task = asyncio.create_task(self._write_group(self._forming))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._forming.append(item)
            if len(self._forming) >= self._max_group:
                self._forming = None
        return await item.answer

    async def _write_group(self, group: list[_Submission]) -> None:
        try:
            async with self._db.repositories() as repos:
                if self._forming is group:
                    self._forming = None  # later arrivals form the next group
                await self._write(repos.requests, group)
        except BaseException as exc:
            if self._forming is group:
                self._forming = None
            for item in group:
                if not item.answer.done():
                    if isinstance(exc, asyncio.CancelledError):
                        item.answer.cancel()
                    else:
                        item.answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def _write(self, requests: RequestRepository, group: list[_Submission]) -> None:
        GROUP_SIZE.observe(len(group))
        contexts = await requests.submission_contexts(
            [(i.user_id, i.district_id, i.idempotency_key) for i in group])
        now = datetime.now(UTC)
        new: list[tuple[_Submission, model.ProfileUpdateRequest, Mapping[str, str | None]]] = []
        for item, context in zip(group, contexts, strict=True):
            if context.existing_id is not None:
                _answer_replay(item, context)
                continue
            try:
                request = model.submit(request_id=uuid7(), requester=context.requester,
                                       district_id=item.district_id, policy=context.policy,
                                       changes=item.changes, note=item.note, now=now)
            except DomainError as exc:
                item.answer.set_exception(exc)
                continue
            new.append((item, request, context.requester.current))
        if not new:
            return
        written = await requests.insert_submitted([
            NewRequest(request, str(item.user_id), item.idempotency_key, item.fingerprint, item.correlation_id)
            for item, request, _ in new])
        if written:
            self._db.events_committed()
        lost = []
        for item, request, current in new:
            if request.id in written:
                item.answer.set_result(Submitted(request.id, True, request, current))
            else:
                lost.append(item)
        if lost:  # a concurrent or earlier submission with the same Idempotency-Key was written first
            contexts = await requests.submission_contexts(
                [(i.user_id, i.district_id, i.idempotency_key) for i in lost])
            for item, context in zip(lost, contexts, strict=True):
                _answer_replay(item, context)


def _answer_replay(item: _Submission, context: SubmissionContext) -> None:
    if context.existing_id is None:  # cannot happen: a key conflict means the row exists
        item.answer.set_exception(RuntimeError("Idempotency-Key conflict without a request"))
    elif context.existing_fingerprint is not None and context.existing_fingerprint != item.fingerprint:
        item.answer.set_exception(
            IdempotencyKeyReused("this Idempotency-Key was already used with a different request body"))
    else:
        item.answer.set_result(Submitted(context.existing_id, False))
