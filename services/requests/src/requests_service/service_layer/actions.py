"""Mark as Done and Restore Request: idempotent, recorded in the history, published via the outbox.

Neither notifies the requester: the only effect outside this database is the `request.*` event,
which the digest uses to drop a done request from tomorrow's staff email.
"""
from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pur_kit.uow import UnitOfWork

from ..adapters.repositories import Repositories
from ..domain.access import Viewer
from ..domain.errors import DomainError


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
    changed = request.mark_done(viewer.actor, now) if action == "marked_done" else request.restore(viewer.actor, now)
    if changed:
        # One statement saves the change, its history entry and its event (the round trips of a
        # separate outbox insert at commit are saved on a staff member's every click).
        await uow.repos.requests.save_transition(request, action=action, by=viewer.actor, at=now,
                                                 events=request.events)
        uow.events_written()
    await uow.commit()
    return changed
