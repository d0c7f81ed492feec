"""What the service does with the directory's events, replay requests and on start, over
in-memory repositories."""
import uuid

from pur_contracts import (
    DirectoryReplayRequested,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    SettingsReplayRequested,
    UserPermissions,
)
from settings_service.domain.access import DirectoryRecord
from settings_service.domain.model import DistrictSettings
from settings_service.service_layer.messages import MessageHandlers

from .fakes import deliver, unit_of_work


def user_event(version: int, *, user_id: uuid.UUID, district: str = "springfield", admin: bool = True,
               active: bool = True, deactivated: bool = False):
    user = DirectoryUser(id=user_id, district_id=district, sis_id="sis-1", role="administrator", given_name="Test",
                         family_name="Person", active=active, permissions=UserPermissions(district_admin=admin))
    kind = DirectoryUserDeactivated if deactivated else DirectoryUserUpserted
    return kind(district_id=district, version=version, user=user)


def handlers_and_uow():
    uow = unit_of_work()
    return MessageHandlers(uow), uow


async def test_a_directory_user_is_kept_as_district_active_and_admin_flag_only():
    handlers, uow = handlers_and_uow()
    user_id = uuid.uuid4()
    await deliver(handlers.user_changed, user_event(1, user_id=user_id), uow)
    assert await uow.repos.directory.record(user_id) == DirectoryRecord("springfield", True, True)
    assert await uow.repos.directory.district_known("springfield") and uow.published == []


async def test_a_deactivation_keeps_the_user_as_inactive_whatever_the_user_says():
    handlers, uow = handlers_and_uow()
    user_id = uuid.uuid4()
    await deliver(handlers.user_changed, user_event(2, user_id=user_id, deactivated=True), uow)
    assert await uow.repos.directory.record(user_id) == DirectoryRecord("springfield", False, True)


async def test_directory_events_seen_out_of_order_leave_the_newest_version_in_force():
    handlers, uow = handlers_and_uow()
    user_id = uuid.uuid4()
    newest = user_event(3, user_id=user_id, admin=True)
    for event in (newest, user_event(2, user_id=user_id, admin=False), newest):
        await deliver(handlers.user_changed, event, uow, message_id=str(uuid.uuid4()))
    assert uow.repos.directory.users[user_id] == (3, DirectoryRecord("springfield", True, True))


async def test_a_replay_request_republishes_every_configured_district_and_only_those():
    handlers, uow = handlers_and_uow()
    configured = [DistrictSettings("b", version=2, profile_update_requests_enabled=True), DistrictSettings("a", 1)]
    for settings in (*configured, DistrictSettings("never")):
        await uow.repos.settings.save(settings)
    await deliver(handlers.replay_requested, SettingsReplayRequested(district_id=None, requested_by="requests"), uow)
    assert [(e.district_id, e.version, e.settings.profile_update_requests_enabled) for e in uow.published] == [
        ("a", 1, False), ("b", 2, True)]


async def test_a_replay_request_for_one_district_republishes_that_one():
    handlers, uow = handlers_and_uow()
    for settings in (DistrictSettings("a", 1), DistrictSettings("b", 4)):
        await uow.repos.settings.save(settings)
    await deliver(handlers.replay_requested, SettingsReplayRequested(district_id="b", requested_by="digest"), uow)
    assert [(e.district_id, e.version) for e in uow.published] == [("b", 4)]


async def test_a_duplicate_replay_request_is_answered_once():
    handlers, uow = handlers_and_uow()
    await uow.repos.settings.save(DistrictSettings("a", 1))
    request = SettingsReplayRequested(district_id=None, requested_by="requests")
    for _ in range(2):
        await deliver(handlers.replay_requested, request, uow)
    assert len(uow.published) == 1


async def test_on_start_with_an_empty_directory_it_asks_for_a_directory_replay_once():
    handlers, uow = handlers_and_uow()
    assert await handlers.request_directory_replay_if_empty() is True
    [event] = uow.published
    assert isinstance(event, DirectoryReplayRequested)
    assert (event.district_id, event.requested_by) == (None, "settings")

    await deliver(handlers.user_changed, user_event(1, user_id=uuid.uuid4()), uow)
    assert await handlers.request_directory_replay_if_empty() is False
    assert len(uow.published) == 1
