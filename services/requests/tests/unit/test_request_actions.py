"""Mark as Done and Restore on in-memory repositories: what changes, the history entry and event
written with it, repeats that change nothing, and callers who get "not found"."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pur_kit.testing.fakes import FakeUnitOfWork
from requests_service.domain.access import Viewer
from requests_service.domain.model import DistrictPolicy, Requester, submit
from requests_service.service_layer.actions import RequestNotFound, mark_done, restore

from .fakes import FakeRepositories

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
MANAGER_A = Viewer.of_user(user_id=uuid.uuid4(), district_id="d1", active=True, manager_scope="schools",
                           manager_school_ids=["sch-a"])


@pytest.fixture
def uow() -> FakeUnitOfWork[FakeRepositories]:
    return FakeUnitOfWork(FakeRepositories())


@pytest.fixture
def request_id(uow) -> uuid.UUID:
    requester = Requester(id=uuid.uuid4(), district_id="d1", given_name="Rita", family_name="Requester",
                          school_ids=("sch-a",), active=True, current={})
    request = submit(request_id=uuid.uuid4(), requester=requester, district_id="d1",
                     policy=DistrictPolicy(requests_enabled=True), changes={}, note="hello", now=NOW)
    uow.repos.requests.add(request)
    return request.id


async def act(action, uow, viewer, request_id) -> bool:
    async with uow() as unit:
        return await action(unit, viewer, request_id)


async def test_mark_as_done_then_restore_each_write_a_history_entry_and_one_event(uow, request_id):
    store = uow.repos.requests
    assert await act(mark_done, uow, MANAGER_A, request_id) is True
    stored = store.rows[request_id]
    assert (stored.status, stored.done_by, stored.version) == ("done", str(MANAGER_A.user_id), 2)
    assert await act(restore, uow, MANAGER_A, request_id) is True
    stored = store.rows[request_id]
    assert (stored.status, stored.done_at, stored.done_by, stored.version) == ("new", None, None, 3)
    assert [(h[1], h[2]) for h in store.history] == [("marked_done", str(MANAGER_A.user_id)),
                                                       ("restored", str(MANAGER_A.user_id))]
    assert [(e.event_name, e.version, e.request.status) for e in store.outbox] == [
        ("request.marked_done", 2, "done"), ("request.restored", 3, "new")]
    assert uow.commits == 2


async def test_repeating_an_action_changes_nothing_and_publishes_nothing(uow, request_id):
    assert await act(mark_done, uow, MANAGER_A, request_id) is True
    assert await act(mark_done, uow, MANAGER_A, request_id) is False
    assert await act(restore, uow, MANAGER_A, request_id) is True
    assert await act(restore, uow, MANAGER_A, request_id) is False
    assert [h[1] for h in uow.repos.requests.history] == ["marked_done", "restored"]
    assert len(uow.repos.requests.outbox) == 2 and uow.repos.requests.rows[request_id].version == 3


async def test_the_system_credential_acts_anywhere_and_is_recorded_as_system(uow, request_id):
    assert await act(mark_done, uow, Viewer.system(), request_id) is True
    assert uow.repos.requests.history[-1][2] == "system" and uow.repos.requests.outbox[-1].request.done_by == "system"


@pytest.mark.parametrize("viewer", [
    Viewer.of_user(user_id=uuid.uuid4(), district_id="d1", active=True, manager_scope="schools",
                   manager_school_ids=["sch-b"]),
    Viewer.of_user(user_id=uuid.uuid4(), district_id="d2", active=True, manager_scope="district",
                   manager_school_ids=[]),
    Viewer.of_user(user_id=uuid.uuid4(), district_id="d1", active=False, manager_scope="district",
                   manager_school_ids=[]),
    Viewer.nobody("d1", uuid.uuid4()),
], ids=["another school's manager", "another district's manager", "an inactive manager", "not a manager"])
async def test_a_request_out_of_scope_is_not_found_and_left_alone(uow, request_id, viewer):
    for action in (mark_done, restore):
        with pytest.raises(RequestNotFound):
            await act(action, uow, viewer, request_id)
    assert uow.repos.requests.rows[request_id].status == "new"
    assert uow.repos.requests.history == [] and uow.repos.requests.outbox == [] and uow.commits == 0


async def test_a_missing_request_is_not_found(uow):
    with pytest.raises(RequestNotFound):
        await act(mark_done, uow, Viewer.system(), uuid.uuid4())
