"""The settings change behind `PATCH` and the page's form, over in-memory repositories."""
import uuid

import pytest
from pur_contracts import DistrictSettingsChanged
from settings_service.domain.access import DirectoryRecord
from settings_service.domain.model import DistrictSettings, UnknownDistrict
from settings_service.domain.rules import InvalidSetting
from settings_service.service_layer.settings import VersionMismatch, update_settings

from .fakes import unit_of_work

ENABLE = {"profile_update_requests_enabled": True}


def known(district: str = "springfield"):
    """A unit of work whose directory knows one user of `district` (its roster was imported)."""
    uow = unit_of_work()
    uow.repos.directory.users[uuid.uuid4()] = (1, DirectoryRecord(district, active=True, district_admin=True))
    return uow


async def test_a_change_stores_the_next_version_and_publishes_its_full_snapshot():
    uow = known()
    async with uow:
        settings, changed = await update_settings(uow, "springfield", ENABLE, by="admin-1")
    assert changed and (settings.version, settings.profile_update_requests_enabled) == (1, True)
    assert (settings.updated_by, settings.updated_at is not None) == ("admin-1", True)
    assert await uow.repos.settings.get("springfield") == settings
    [event] = uow.published
    assert isinstance(event, DistrictSettingsChanged)
    assert (event.district_id, event.version, event.settings.profile_update_requests_enabled) == (
        "springfield", 1, True)
    assert event.settings.notifications.timezone == "America/New_York"
    assert uow.commits == 1


async def test_each_change_merges_into_the_latest_version():
    uow = known()
    for changes in (ENABLE, {"notifications": {"timezone": "America/Chicago"}}):
        async with uow:
            settings, _ = await update_settings(uow, "springfield", changes, by="system")
    assert (settings.version, settings.profile_update_requests_enabled, settings.notifications.timezone) == (
        2, True, "America/Chicago")
    assert [e.version for e in uow.published] == [1, 2]


async def test_a_change_that_keeps_every_value_makes_no_version_and_publishes_nothing():
    uow = known()
    async with uow:
        settings, changed = await update_settings(uow, "springfield", {"profile_update_requests_enabled": False},
                                                  by="system")
    assert (changed, settings) == (False, DistrictSettings("springfield"))
    assert uow.published == [] and await uow.repos.settings.configured() == []


async def test_an_unknown_district_is_refused_and_nothing_is_stored_or_published():
    uow = known("elsewhere")
    async with uow:
        with pytest.raises(UnknownDistrict):
            await update_settings(uow, "springfield", ENABLE, by="system")
    assert (uow.published, uow.commits, uow.repos.settings.rows) == ([], 0, {})


async def test_an_if_match_naming_the_current_version_lets_the_change_through():
    uow = known()
    async with uow:
        settings, changed = await update_settings(uow, "springfield", ENABLE, by="system",
                                                  expected_versions=frozenset({0}))
    assert changed and settings.version == 1


async def test_a_stale_if_match_is_refused_with_the_current_version_and_changes_nothing():
    uow = known()
    async with uow:
        await update_settings(uow, "springfield", ENABLE, by="system")
    for expected in (frozenset({0}), frozenset()):
        async with uow:
            with pytest.raises(VersionMismatch) as refused:
                await update_settings(uow, "springfield", {"sis_sync": {"contact_details_auto_update": False}},
                                      by="system", expected_versions=expected)
        assert (refused.value.current_version, refused.value.current.profile_update_requests_enabled) == (1, True)
    assert [e.version for e in uow.published] == [1] and uow.commits == 1
    assert (await uow.repos.settings.get("springfield")).sis_sync.contact_details_auto_update is True


async def test_a_bad_value_is_refused_and_changes_nothing_even_next_to_a_valid_one():
    uow = known()
    async with uow:
        with pytest.raises(InvalidSetting) as refused:
            await update_settings(uow, "springfield", {**ENABLE, "notifications": {"timezone": "Mars/Olympus"}},
                                  by="system")
    assert refused.value.field == "notifications.timezone"
    assert (uow.published, uow.commits) == ([], 0)
    assert (await uow.repos.settings.get("springfield")).version == 0
