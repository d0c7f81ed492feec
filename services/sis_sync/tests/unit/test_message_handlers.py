"""What sis_sync does with the messages it consumes, and its start-up request, on in-memory
repositories (the kit claims each delivery in the inbox and commits around these handlers)."""
from __future__ import annotations

from pur_contracts import (
    DirectoryReplayRequested,
    DirectorySchoolUpserted,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
    SettingsReplayRequested,
    SisSyncSettings,
)
from sis_sync_service.service_layer.messages import MessageHandlers

from .fakes import unit_of_work


def settings_changed(district: str, version: int, auto_update: bool) -> DistrictSettingsChanged:
    return DistrictSettingsChanged(district_id=district, version=version, settings=DistrictSettings(
        district_id=district, version=version, sis_sync=SisSyncSettings(contact_details_auto_update=auto_update)))


async def test_a_newer_settings_change_is_kept_and_an_older_one_changes_nothing():
    uow = unit_of_work()
    handlers = MessageHandlers(uow)
    for version, auto_update in ((2, False), (1, True), (2, True)):
        async with uow:
            await handlers.district_settings_changed(settings_changed("springfield", version, auto_update), uow)
    assert await uow.repos.settings.contact_auto_update("springfield") is False
    assert await uow.repos.settings.contact_auto_update("elsewhere") is True  # the default until told
    assert uow.published == []


async def test_a_replay_republishes_the_districts_schools_and_users_at_their_current_versions():
    uow = unit_of_work()
    handlers = MessageHandlers(uow)
    uow.repos.schools.add("springfield", "s1")
    uow.repos.schools.add("shelbyville", "s9")
    kept = [uow.repos.users.add(sis_id=f"S-{i}", version=i + 1) for i in range(3)]
    gone = uow.repos.users.add(sis_id="S-9", active=False, version=7)
    uow.repos.users.add(district_id="shelbyville", sis_id="S-1")
    async with uow:
        await handlers.directory_replay_requested(
            DirectoryReplayRequested(district_id="springfield", requested_by="requests"), uow)
        await uow.commit()
    schools = [e for e in uow.published if isinstance(e, DirectorySchoolUpserted)]
    upserted = {e.user.id: e.version for e in uow.published if isinstance(e, DirectoryUserUpserted)}
    deactivated = [e for e in uow.published if isinstance(e, DirectoryUserDeactivated)]
    assert [s.school.id for s in schools] == ["s1"]
    assert upserted == {u["id"]: u["version"] for u in kept}
    assert [(e.user.id, e.version) for e in deactivated] == [(gone["id"], 7)]


async def test_a_replay_of_every_district_republishes_them_all():
    uow = unit_of_work()
    uow.repos.users.add(sis_id="S-1")
    uow.repos.users.add(district_id="shelbyville", sis_id="S-1")
    async with uow:
        await MessageHandlers(uow).directory_replay_requested(
            DirectoryReplayRequested(district_id=None, requested_by="digest"), uow)
        await uow.commit()
    assert {e.district_id for e in uow.published} == {"springfield", "shelbyville"}


async def test_settings_are_asked_for_at_start_only_while_none_are_known():
    uow = unit_of_work()
    handlers = MessageHandlers(uow)
    assert await handlers.request_settings_replay_if_empty()
    [request] = uow.published
    assert isinstance(request, SettingsReplayRequested)
    assert request.district_id is None and request.requested_by == "sis_sync"
    await uow.repos.settings.save_if_newer("springfield", 1, True)
    assert not await handlers.request_settings_replay_if_empty()
    assert len(uow.published) == 1
