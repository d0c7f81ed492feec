"""The message handlers on in-memory repositories: what each event changes, what it publishes,
and that a repeated or older event changes nothing."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pur_contracts import (
    DirectorySchool,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
    RequestsReplayRequested,
    SisSyncSettings,
)
from pur_kit.testing.fakes import FakeUnitOfWork
from requests_service.domain.model import DistrictPolicy, Requester, submit
from requests_service.service_layer import projections
from requests_service.service_layer.projections import ProjectionHandlers, request_replays

from .fakes import FakeRepositories

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
ON = DistrictPolicy(requests_enabled=True)


@pytest.fixture
def uow() -> FakeUnitOfWork[FakeRepositories]:
    return FakeUnitOfWork(FakeRepositories())


@pytest.fixture
def handlers() -> ProjectionHandlers:
    return ProjectionHandlers(clock=lambda: NOW)


async def handle(handler, event, uow) -> None:
    """As the kit runs a handler: one unit of work, committed after the handler returns."""
    async with uow() as unit:
        await handler(event, unit)
        await unit.commit()


def person(district: str = "d1", **values) -> DirectoryUser:
    return DirectoryUser(**{"id": uuid.uuid4(), "district_id": district, "sis_id": "s1", "role": "student",
                            "given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org",
                            "school_ids": ["sch-a"], **values})


def a_request(uow, user: DirectoryUser, changes=None, note=None):
    """A New request of `user`, stored as a submission would have stored it."""
    requester = Requester(id=user.id, district_id=user.district_id, given_name=user.given_name,
                          family_name=user.family_name, school_ids=tuple(user.school_ids), active=True,
                          current={"given_name": user.given_name, "family_name": user.family_name,
                                   "email": user.email, "phone": user.phone, "sms": user.sms})
    request = submit(request_id=uuid.uuid4(), requester=requester, district_id=user.district_id, policy=ON,
                     changes=changes or {}, note=note, now=NOW)
    uow.repos.requests.add(request)
    return request


def settings_event(version: int, enabled: bool, contact_auto: bool = True) -> DistrictSettingsChanged:
    return DistrictSettingsChanged(district_id="d1", version=version, settings=DistrictSettings(
        district_id="d1", version=version, profile_update_requests_enabled=enabled,
        sis_sync=SisSyncSettings(contact_details_auto_update=contact_auto)))


async def test_a_settings_change_is_kept_unless_an_older_version_arrives(uow, handlers):
    await handle(handlers.settings_changed, settings_event(2, True, contact_auto=False), uow)
    await handle(handlers.settings_changed, settings_event(1, False), uow)
    await handle(handlers.settings_changed, settings_event(2, False), uow)
    assert uow.repos.projections.settings["d1"] == {"version": 2, "requests_enabled": True,
                                                    "contact_details_auto_update": False,
                                                    "timezone": "America/New_York", "updated_at": NOW}
    assert uow.published == []


async def test_a_school_is_kept_unless_an_older_version_arrives(uow, handlers):
    def school(version: int, name: str) -> DirectorySchoolUpserted:
        return DirectorySchoolUpserted(district_id="d1", version=version,
                                       school=DirectorySchool(id="sch-a", district_id="d1", name=name))

    await handle(handlers.school_upserted, school(3, "Alder Elementary"), uow)
    await handle(handlers.school_upserted, school(2, "Old Name"), uow)
    assert uow.repos.projections.schools[("d1", "sch-a")] == {"version": 3, "name": "Alder Elementary",
                                                              "active": True}
    assert uow.published == []


async def test_a_request_appears_applied_once_the_directory_has_every_requested_value(uow, handlers):
    user = person(phone="+15555550100")
    request = a_request(uow, user, {"email": "new@example.org", "phone": "+15555550199"})
    note_only = a_request(uow, user, note="just a note")

    await handle(handlers.user_changed, DirectoryUserUpserted(
        district_id="d1", version=1, user=user.model_copy(update={"email": "NEW@example.org"})), uow)
    assert uow.published == [] and uow.repos.requests.rows[request.id].appears_applied is False

    await handle(handlers.user_changed, DirectoryUserUpserted(district_id="d1", version=2, user=user.model_copy(
        update={"email": "NEW@example.org", "phone": "+1 555-555-0199"})), uow)
    (event,) = uow.published
    assert event.event_name == "request.appears_applied_changed" and event.version == 2
    assert event.request.id == request.id and event.request.appears_applied is True and event.occurred_at == NOW
    stored = uow.repos.requests.rows[request.id]
    assert stored.appears_applied is True and stored.version == 2
    assert uow.repos.requests.rows[note_only.id].appears_applied is False


async def test_the_same_directory_event_twice_or_an_older_one_changes_nothing_more(uow, handlers):
    user = person()
    request = a_request(uow, user, {"email": "new@example.org"})
    applied = DirectoryUserUpserted(district_id="d1", version=5, user=user.model_copy(update={"email": "new@example.org"}))
    await handle(handlers.user_changed, applied, uow)
    await handle(handlers.user_changed, applied, uow)
    await handle(handlers.user_changed, DirectoryUserUpserted(district_id="d1", version=4, user=user), uow)
    assert [e.event_name for e in uow.published] == ["request.appears_applied_changed"]
    assert uow.repos.projections.users[user.id][0] == 5
    assert uow.repos.requests.rows[request.id].appears_applied is True


async def test_a_done_request_is_not_flagged_as_applied(uow, handlers):
    user = person()
    request = a_request(uow, user, {"given_name": "Margarita"})
    stored = uow.repos.requests.rows[request.id]
    stored.mark_done("manager", NOW)
    await handle(handlers.user_changed, DirectoryUserUpserted(
        district_id="d1", version=1, user=user.model_copy(update={"given_name": "Margarita"})), uow)
    assert uow.published == [] and uow.repos.requests.rows[request.id].appears_applied is False


async def test_a_requester_who_moves_school_or_is_renamed_is_refreshed_on_their_requests_without_an_event(
        uow, handlers):
    user = person()
    request = a_request(uow, user, note="hi")
    await handle(handlers.user_changed, DirectoryUserDeactivated(district_id="d1", version=1, user=user.model_copy(
        update={"school_ids": ["sch-b"], "family_name": "Moved", "active": False})), uow)
    stored = uow.repos.requests.rows[request.id]
    assert (stored.requester_name, stored.school_ids, stored.version) == ("Ada Moved", ["sch-b"], 2)
    assert uow.repos.requests.reindexed == [request.id]
    assert uow.published == []


async def test_a_replay_request_is_answered_with_a_snapshot_of_every_request_of_the_district(
        uow, handlers, monkeypatch):
    monkeypatch.setattr(projections, "REPLAY_BATCH", 2)  # several pages
    user, elsewhere = person(), person("d2")
    new = [a_request(uow, user, note=f"n{i}") for i in range(3)]
    done = a_request(uow, user, note="done")
    uow.repos.requests.rows[done.id].mark_done("manager", NOW)
    a_request(uow, elsewhere, note="another district")

    await handle(handlers.replay_requested, RequestsReplayRequested(district_id="d1", requested_by="digest"), uow)
    snapshots = {e.request.id: (e.event_name, e.version) for e in uow.published}
    assert snapshots == {**{r.id: ("request.submitted", 1) for r in new}, done.id: ("request.marked_done", 2)}

    await handle(handlers.replay_requested, RequestsReplayRequested(district_id=None, requested_by="digest"), uow)
    assert len(uow.published) == 4 + 5


async def test_a_fresh_service_asks_for_the_state_it_has_no_copy_of(uow):
    await request_replays(uow, only_for_empty=True)
    assert {(e.event_name, e.requested_by, e.district_id) for e in uow.published} == {
        ("settings.replay.requested", "requests", None), ("directory.replay.requested", "requests", None)}

    await uow.repos.projections.save_user(person(), 1)
    await request_replays(uow, only_for_empty=True)
    assert [e.event_name for e in uow.published[2:]] == ["settings.replay.requested"]

    await uow.repos.projections.save_settings("d1", 1, requests_enabled=True, contact_details_auto_update=True,
                                              timezone="America/Chicago", at=NOW)
    await request_replays(uow, only_for_empty=True)
    assert len(uow.published) == 3
    await request_replays(uow, only_for_empty=False)   # asked for by an operator: both, whatever is here
    assert [e.event_name for e in uow.published[3:]] == ["settings.replay.requested", "directory.replay.requested"]
