"""Submissions on in-memory repositories: the rules decide each submission, the request and its
event are written together, Idempotency-Keys replay or conflict, and submissions that arrive while
no connection is free are written as one group, each with its own answer."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from pur_contracts import DirectoryUser
from requests_service.domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit
from requests_service.service_layer.submission import IdempotencyKeyReused, SubmissionWriter

from .fakes import FakeDatabase, FakeRepositories, let_others_run


@pytest.fixture
def repos() -> FakeRepositories:
    return FakeRepositories()


@pytest.fixture
def db(repos) -> FakeDatabase:
    return FakeDatabase(repos, size=1)


@pytest.fixture
def writer(db, repos) -> SubmissionWriter:
    return SubmissionWriter(db, max_group=64)


async def person(repos, district: str = "d1", *, enabled: bool = True, **values) -> DirectoryUser:
    user = DirectoryUser(**{"id": uuid.uuid4(), "district_id": district, "sis_id": "s1", "role": "student",
                            "given_name": "Rita", "family_name": "Requester", "email": "rita@example.org",
                            "school_ids": ["sch-a"], **values})
    await repos.projections.save_user(user, 1)
    await repos.projections.save_settings(district, 1, requests_enabled=enabled, contact_details_auto_update=True,
                                          timezone="America/New_York", at=None)
    return user


def submission(user: DirectoryUser, changes=None, note=None, key=None) -> dict:
    return {"user_id": user.id, "district_id": user.district_id, "changes": changes or {}, "note": note,
            "idempotency_key": key}


async def test_a_submission_writes_the_request_its_history_and_its_event_and_wakes_the_relay(writer, db, repos):
    user = await person(repos)
    result = await writer.submit(**submission(user, {"email": "Rita.New@Example.org"}, "new job"))
    assert result.created and result.current["email"] == "rita@example.org"
    stored = repos.requests.rows[result.request_id]
    assert (stored.status, stored.changes, stored.note, stored.requester_name) == (
        "new", {"email": "Rita.New@example.org"}, "new job", "Rita Requester")
    assert repos.requests.history == [(result.request_id, "submitted", str(user.id), stored.submitted_at)]
    (event,) = repos.requests.outbox
    assert event.event_name == "request.submitted" and event.request.id == result.request_id
    assert event.request.fields == ["email"] and db.wakeups == 1


async def test_refused_submissions_write_nothing(writer, db, repos):
    user = await person(repos)
    off = await person(repos, "d2", enabled=False)
    with pytest.raises(InvalidChange) as refused:
        await writer.submit(**submission(user, {"email": "RITA@example.org"}))
    assert refused.value.field == "email"
    with pytest.raises(FeatureDisabled):
        await writer.submit(**submission(off, note="hello"))
    with pytest.raises(NotAllowedToSubmit):
        await writer.submit(user_id=uuid.uuid4(), district_id="d1", changes={}, note="who am I", idempotency_key=None)
    with pytest.raises(NotAllowedToSubmit):
        await writer.submit(**{**submission(user, note="hello"), "district_id": "d2"})
    assert repos.requests.rows == {} and repos.requests.outbox == [] and db.wakeups == 0


async def test_the_same_idempotency_key_returns_the_first_request_and_another_body_is_refused(writer, repos):
    user = await person(repos)
    first = await writer.submit(**submission(user, {"given_name": "Margarita"}, key="k-1"))
    again = await writer.submit(**submission(user, {"given_name": "Margarita"}, key="k-1"))
    assert first.created and not again.created and again.request_id == first.request_id
    with pytest.raises(IdempotencyKeyReused):
        await writer.submit(**submission(user, {"given_name": "Marga"}, key="k-1"))
    someone_else = await writer.submit(**submission(await person(repos), {"given_name": "Margarita"}, key="k-1"))
    assert someone_else.created and someone_else.request_id != first.request_id
    assert len(repos.requests.rows) == 2 and len(repos.requests.outbox) == 2


async def test_submissions_arriving_while_no_connection_is_free_are_written_together_each_with_its_answer(
        writer, db, repos):
    people = [await person(repos) for _ in range(4)]
    async with db.acquire():   # the only connection is busy
        calls = [asyncio.create_task(writer.submit(**submission(p, note=f"note {i}", key=f"k{i}")))
                 for i, p in enumerate(people)]
        calls += [asyncio.create_task(writer.submit(**submission(people[0], note="note 0", key="k0"))),  # a retry
                  asyncio.create_task(writer.submit(**submission(people[1], {"email": "not-an-email"}))),
                  asyncio.create_task(writer.submit(**submission(people[2], note="changed", key="k2")))]
        await let_others_run()
        assert not any(call.done() for call in calls)
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert repos.requests.inserts == [6] and repos.requests.context_reads == 2   # one group, one re-read
    created = [a for a in answers[:4] if a.created]
    assert len(created) == 4 and {a.request_id for a in created} == set(repos.requests.rows)
    retry, invalid, changed = answers[4:]
    assert not retry.created and retry.request_id == answers[0].request_id
    assert isinstance(invalid, InvalidChange) and invalid.field == "email"
    assert isinstance(changed, IdempotencyKeyReused)
    assert len(repos.requests.outbox) == 4 and db.wakeups == 1


async def test_with_groups_turned_off_each_submission_is_written_alone(db, repos):
    writer = SubmissionWriter(db, max_group=1)
    people = [await person(repos) for _ in range(3)]
    async with db.acquire():
        calls = [asyncio.create_task(writer.submit(**submission(p, note="hi"))) for p in people]
        await let_others_run()
    assert all(a.created for a in await asyncio.gather(*calls))
    assert repos.requests.inserts == [1, 1, 1]
