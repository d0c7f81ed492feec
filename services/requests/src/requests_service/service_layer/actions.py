"""Mark as Done and Restore Request, one request or a page of them: idempotent, recorded in the
history, published via the outbox.

Neither notifies the requester: the only effect outside this database is the `request.*` event,
which the digest uses to drop a done request from tomorrow's staff email.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from pur_kit.uow import UnitOfWork

from ..adapters.repositories import Repositories
from ..domain.access import Viewer
from ..domain.errors import DomainError
from ..domain.model import ProfileUpdateRequest


class RequestNotFound(DomainError):
    """No such request, or not one the caller may see: the same answer, so existence does not leak."""

    def __init__(self, request_id: str) -> None:
        super().__init__("no such request")
        self.request_id = request_id


async def mark_done(uow: UnitOfWork[Repositories], viewer: Viewer, request_id: UUID) -> bool:
    return await _transition(uow, viewer, request_id, "marked_done")


async def restore(uow: UnitOfWork[Repositories], viewer: Viewer, request_id: UUID) -> bool:
    return await _transition(uow, viewer, request_id, "restored")


async def _transition(uow: UnitOfWork[Repositories], viewer: Viewer, request_id: UUID, action: str) -> bool:
    """True when the state changed; False when it already was in the target state."""
    if not viewer.can_list:
        raise RequestNotFound(str(request_id))
    request = await uow.repos.requests.load_for_update(request_id)
    if request is None or not viewer.can_see(request.district_id, request.school_ids):
        raise RequestNotFound(str(request_id))
    now = datetime.now(UTC)
    changed = _apply(request, action, viewer.actor, now)
    if changed:
        # One statement saves the change, its history entry and its event (the round trips of a
        # separate outbox insert at commit are saved on a staff member's every click).
        await uow.repos.requests.save_transition(request, action=action, by=viewer.actor, at=now,
                                                 events=request.events)
        uow.events_written()
    await uow.commit()
    return changed


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a bulk action did: each id given is counted once, in exactly one of these."""

    changed: int      # now in the target state, with a history entry and an event each
    unchanged: int    # already in the target state: left alone
    not_found: int    # missing or out of the caller's scope (one count: existence does not leak)


async def mark_done_many(uow: UnitOfWork[Repositories], viewer: Viewer, request_ids: Iterable[UUID]) -> BulkResult:
    return await _transition_many(uow, viewer, request_ids, "marked_done")


async def restore_many(uow: UnitOfWork[Repositories], viewer: Viewer, request_ids: Iterable[UUID]) -> BulkResult:
    return await _transition_many(uow, viewer, request_ids, "restored")


async def _transition_many(uow: UnitOfWork[Repositories], viewer: Viewer, request_ids: Iterable[UUID],
                           action: str) -> BulkResult:
    """The single action's rules on a set, in one unit of work: one locking read of them all, the
    domain decides each, one statement saves the changed ones with their history entries and events."""
    ids = list(dict.fromkeys(request_ids))
    if not viewer.can_list or not ids:
        return BulkResult(0, 0, len(ids))
    loaded = await uow.repos.requests.load_many_for_update(ids)
    visible = [r for r in loaded if viewer.can_see(r.district_id, r.school_ids)]
    now = datetime.now(UTC)
    changed = [r for r in visible if _apply(r, action, viewer.actor, now)]
    if changed:
        await uow.repos.requests.save_transitions(changed, action=action, by=viewer.actor, at=now)
        uow.events_written()
    await uow.commit()
    return BulkResult(len(changed), len(visible) - len(changed), len(ids) - len(visible))


def _apply(request: ProfileUpdateRequest, action: str, by: str, at: datetime) -> bool:
    return request.mark_done(by, at) if action == "marked_done" else request.restore(by, at)
