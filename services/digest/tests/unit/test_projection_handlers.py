"""What the service does with the settings, directory and request events, and on start, over
in-memory repositories."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from digest_service.service_layer.projections import ProjectionHandlers
from pur_contracts import (
    DirectoryReplayRequested,
    DirectorySchool,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
    NotificationSettings,
    RequestMarkedDone,
    RequestsReplayRequested,
    RequestSnapshot,
    RequestSubmitted,
    SettingsReplayRequested,
    UserPermissions,
    UsersManagerScope,
)

from .fakes import deliver, unit_of_work

D = "springfield"
SUBMITTED = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def handlers_and_uow():
    uow = unit_of_work()
    return ProjectionHandlers(uow), uow


def settings_event(version: int, *, digest: bool = True) -> DistrictSettingsChanged:
    return DistrictSettingsChanged(district_id=D, version=version, settings=DistrictSettings(
        district_id=D, version=version, profile_update_requests_enabled=True,
        notifications=NotificationSettings(daily_digest_enabled=digest, digest_local_time="07:00",
                                           timezone="America/New_York")))


def user(*, schools=("sch-a",), family="Requester", manager=None, active=True) -> DirectoryUser:
    user_id = uuid.uuid4()
    return DirectoryUser(id=user_id, district_id=D, sis_id=f"sis-{user_id.hex[:6]}", role="student", given_name="Rita",
                         family_name=family, school_ids=list(schools), active=active,
                         permissions=UserPermissions(users_manager=manager))


def user_event(u: DirectoryUser, version: int):
    return (DirectoryUserUpserted if u.active else DirectoryUserDeactivated)(district_id=D, version=version, user=u)


def snapshot(requester: DirectoryUser, *, status: str = "new", schools=None) -> RequestSnapshot:
    return RequestSnapshot(
        id=uuid.uuid4(), district_id=D, requester_id=requester.id, requester_name="Name In Snapshot",
        school_ids=list(schools if schools is not None else requester.school_ids), status=status, fields=["email"],
        has_note=False, appears_applied=False, submitted_at=SUBMITTED,
        done_at=SUBMITTED if status == "done" else None, done_by="someone" if status == "done" else None)


def index(uow) -> set[tuple]:
    return set(uow.repos.tables.request_schools)


async def test_district_settings_are_kept_only_when_newer():
    handlers, uow = handlers_and_uow()
    await deliver(handlers.settings_changed, settings_event(2, digest=False), uow)
    await deliver(handlers.settings_changed, settings_event(1, digest=True), uow)   # late and older
    district = await uow.repos.directory.district(D)
    assert district.digest_enabled is False and district.schedule.local_time.hour == 7
    assert uow.repos.tables.settings[D]["version"] == 2 and uow.published == []


async def test_a_duplicate_delivery_reaches_no_handler_twice():
    handlers, uow = handlers_and_uow()
    event = settings_event(1)
    await deliver(handlers.settings_changed, event, uow)
    uow.repos.tables.settings.clear()
    await deliver(handlers.settings_changed, event, uow)
    assert uow.repos.tables.settings == {} and uow.commits == 1


async def test_a_school_name_is_kept_when_newer():
    handlers, uow = handlers_and_uow()
    for version, name in ((1, "Alder Elementary"), (3, "Alder Academy"), (2, "Stale Name")):
        await deliver(handlers.school_upserted, DirectorySchoolUpserted(
            district_id=D, version=version, school=DirectorySchool(id="sch-a", district_id=D, name=name)), uow)
    assert await uow.repos.directory.school_names(D) == {"sch-a": "Alder Academy"}


async def test_a_users_manager_becomes_a_recipient_and_leaves_when_deactivated():
    handlers, uow = handlers_and_uow()
    manager = user(manager=UsersManagerScope(scope="schools", school_ids=["sch-a"]))
    await deliver(handlers.user_changed, user_event(manager, 1), uow)
    (recipient,) = await uow.repos.directory.recipients(D, SUBMITTED.date())
    assert recipient.id == manager.id and recipient.scope_key == ("schools", "sch-a")
    await deliver(handlers.user_changed, user_event(manager.model_copy(update={"active": False}), 2), uow)
    assert await uow.repos.directory.recipients(D, SUBMITTED.date()) == []


async def test_a_request_takes_its_requesters_name_and_schools_from_the_directory_and_is_indexed_while_new():
    handlers, uow = handlers_and_uow()
    pupil = user(schools=("sch-a", "sch-b"))
    await deliver(handlers.user_changed, user_event(pupil, 1), uow)
    request = snapshot(pupil, schools=["sch-old"])
    await deliver(handlers.request_changed, RequestSubmitted(district_id=D, version=1, request=request), uow)
    row = uow.repos.tables.requests[request.id]
    assert row["requester_name"] == "Rita Requester" and row["school_ids"] == ["sch-a", "sch-b"]
    assert index(uow) == {(request.id, "sch-a"), (request.id, "sch-b")}
    done = request.model_copy(update={"status": "done", "done_at": SUBMITTED, "done_by": "someone"})
    await deliver(handlers.request_changed, RequestMarkedDone(district_id=D, version=2, request=done), uow)
    assert index(uow) == set() and uow.repos.tables.requests[request.id]["status"] == "done"


async def test_an_older_request_event_changes_neither_the_request_nor_its_index():
    handlers, uow = handlers_and_uow()
    pupil = user()
    request = snapshot(pupil)
    done = request.model_copy(update={"status": "done", "done_at": SUBMITTED, "done_by": "someone"})
    await deliver(handlers.request_changed, RequestMarkedDone(district_id=D, version=2, request=done), uow)
    await deliver(handlers.request_changed, RequestSubmitted(district_id=D, version=1, request=request), uow)
    assert uow.repos.tables.requests[request.id]["status"] == "done" and index(uow) == set()
    assert uow.repos.tables.requests[request.id]["requester_name"] == "Name In Snapshot"   # unknown requester


async def test_a_requester_who_changes_school_and_name_moves_their_requests():
    handlers, uow = handlers_and_uow()
    pupil = user(schools=("sch-a",))
    await deliver(handlers.user_changed, user_event(pupil, 1), uow)
    request = snapshot(pupil)
    await deliver(handlers.request_changed, RequestSubmitted(district_id=D, version=1, request=request), uow)
    moved = pupil.model_copy(update={"school_ids": ["sch-b", "sch-b"], "family_name": "Renamed"})
    await deliver(handlers.user_changed, user_event(moved, 2), uow)
    assert uow.repos.tables.requests[request.id]["requester_name"] == "Rita Renamed"
    assert index(uow) == {(request.id, "sch-b")}
    await deliver(handlers.user_changed, user_event(pupil, 1), uow)          # the stale version changes nothing
    assert index(uow) == {(request.id, "sch-b")}


async def test_an_empty_service_asks_every_owner_for_a_replay_and_a_filled_one_asks_nobody():
    handlers, uow = handlers_and_uow()
    await handlers.request_replays_if_empty()
    assert [type(e) for e in uow.published] == [SettingsReplayRequested, DirectoryReplayRequested,
                                                RequestsReplayRequested]
    assert all(e.requested_by == "digest" and e.district_id is None for e in uow.published)
    await deliver(handlers.settings_changed, settings_event(1), uow)
    await deliver(handlers.user_changed, user_event(user(), 1), uow)
    uow.published.clear()
    await handlers.request_replays_if_empty()
    assert [type(e) for e in uow.published] == [RequestsReplayRequested]
