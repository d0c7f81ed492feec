"""Bulk Mark as Done / Restore on in-memory repositories: one unit of work and one write for the
set, a history entry and an event per request changed, and the ones skipped counted by reason."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pur_kit.testing.fakes import FakeUnitOfWork
from requests_service.domain.access import Viewer
from requests_service.domain.model import DistrictPolicy, Requester, submit
from requests_service.service_layer.actions import BulkResult, mark_done_many, restore_many

from .fakes import FakeRepositories

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
MANAGER_A = Viewer.of_user(user_id=uuid.uuid4(), district_id="d1", active=True, manager_scope="schools",
                           manager_school_ids=["sch-a"])


@pytest.fixture
def uow() -> FakeUnitOfWork[FakeRepositories]:
    return FakeUnitOfWork(FakeRepositories())


def add_request(uow, school: str = "sch-a", district: str = "d1") -> uuid.UUID:
    requester = Requester(id=uuid.uuid4(), district_id=district, given_name="Rita", family_name="Requester",
                          school_ids=(school,), active=True, current={})
    request = submit(request_id=uuid.uuid4(), requester=requester, district_id=district,
                     policy=DistrictPolicy(requests_enabled=True), changes={}, note="hello", now=NOW)
    uow.repos.requests.add(request)
    return request.id


async def act(action, uow, viewer, ids) -> BulkResult:
    async with uow() as unit:
        return await action(unit, viewer, ids)


async def test_bulk_mark_as_done_changes_each_request_once_in_one_statement_and_one_commit(uow):
    ids = [add_request(uow) for _ in range(5)]
    result = await act(mark_done_many, uow, MANAGER_A, ids)
    store = uow.repos.requests
    assert result == BulkResult(changed=5, unchanged=0, not_found=0)
    assert {store.rows[i].status for i in ids} == {"done"} and {store.rows[i].version for i in ids} == {2}
    assert sorted(h[0] for h in store.history) == sorted(ids)
    assert {(h[1], h[2]) for h in store.history} == {("marked_done", str(MANAGER_A.user_id))}
    assert sorted(e.request.id for e in store.outbox) == sorted(ids)
    assert {e.event_name for e in store.outbox} == {"request.marked_done"}
    assert store.statements == 1 and uow.commits == 1


async def test_requests_already_done_out_of_scope_or_missing_are_skipped_and_counted(uow):
    fresh = [add_request(uow) for _ in range(3)]
    already = add_request(uow)
    await act(mark_done_many, uow, MANAGER_A, [already])
    other_school, other_district = add_request(uow, school="sch-b"), add_request(uow, district="d2")
    store = uow.repos.requests
    before = len(store.outbox)
    result = await act(mark_done_many, uow, MANAGER_A,
                       [*fresh, already, other_school, other_district, uuid.uuid4(), fresh[0]])
    assert result == BulkResult(changed=3, unchanged=1, not_found=3)   # the repeated id counts once
    assert store.rows[other_school].status == "new" and store.rows[other_district].status == "new"
    assert [e.request.id for e in store.outbox[before:]] == sorted(fresh)
    assert store.rows[already].version == 2   # not bumped again


async def test_bulk_restore_puts_done_requests_back_and_leaves_new_ones_alone(uow):
    ids = [add_request(uow) for _ in range(4)]
    await act(mark_done_many, uow, MANAGER_A, ids[:3])
    result = await act(restore_many, uow, Viewer.system(), ids)
    store = uow.repos.requests
    assert result == BulkResult(changed=3, unchanged=1, not_found=0)
    assert {store.rows[i].status for i in ids} == {"new"}
    assert [e.event_name for e in store.outbox[-3:]] == ["request.restored"] * 3
    assert [h[2] for h in store.history[-3:]] == ["system"] * 3


async def test_someone_who_is_not_a_manager_changes_nothing(uow):
    ids = [add_request(uow) for _ in range(2)]
    result = await act(mark_done_many, uow, Viewer.nobody("d1", uuid.uuid4()), ids)
    assert result == BulkResult(changed=0, unchanged=0, not_found=2)
    assert uow.repos.requests.history == [] and uow.repos.requests.outbox == []


async def test_an_empty_selection_is_nothing_to_do(uow):
    assert await act(mark_done_many, uow, MANAGER_A, []) == BulkResult(0, 0, 0)
    assert uow.commits == 0
