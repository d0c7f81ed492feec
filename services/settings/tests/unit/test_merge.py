from datetime import UTC, datetime

import pytest
from settings_service.domain.model import DistrictSettings, Notifications, SisSync
from settings_service.domain.rules import InvalidSetting

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_a_never_configured_district_reads_as_the_documented_defaults():
    s = DistrictSettings("springfield")
    assert (s.version, s.profile_update_requests_enabled, s.configured) == (0, False, False)
    assert s.notifications == Notifications(daily_digest_enabled=True, digest_local_time="07:00",
                                            timezone="America/New_York")
    assert s.sis_sync == SisSync(contact_details_auto_update=True)
    assert (s.updated_at, s.updated_by) == (None, None)


def test_a_change_makes_the_next_version_and_records_who_and_when():
    s = DistrictSettings("d").changed({"profile_update_requests_enabled": True}, by="admin-1", at=AT)
    assert (s.version, s.profile_update_requests_enabled, s.updated_by, s.updated_at) == (1, True, "admin-1", AT)


def test_nested_objects_merge_field_by_field():
    s = DistrictSettings("d").changed({"notifications": {"timezone": "America/Chicago"}}, by="a", at=AT)
    s = s.changed({"notifications": {"digest_local_time": "06:30"}, "sis_sync": {}}, by="a", at=AT)
    assert s.notifications == Notifications(True, "06:30", "America/Chicago")
    assert s.sis_sync.contact_details_auto_update is True
    assert s.version == 2


def test_a_change_that_keeps_every_value_is_not_a_new_version():
    s = DistrictSettings("d")
    assert s.changed({}, by="a", at=AT) is None
    assert s.changed({"profile_update_requests_enabled": False, "notifications": {"timezone": "America/New_York"}},
                     by="a", at=AT) is None


@pytest.mark.parametrize(("changes", "field"), [
    ({"profile_update_requests_enabled": "yes"}, "profile_update_requests_enabled"),
    ({"profile_update_requests_enabled": 1}, "profile_update_requests_enabled"),
    ({"notifications": {"digest_local_time": "25:00"}}, "notifications.digest_local_time"),
    ({"notifications": {"timezone": "Mars/Olympus"}}, "notifications.timezone"),
    ({"notifications": {"daily_digest_enabled": None}}, "notifications.daily_digest_enabled"),
    ({"notifications": "07:00"}, "notifications"),
    ({"sis_sync": {"owner": "sis"}}, "sis_sync.owner"),
    ({"version": 3}, "version"),
    ({"district_id": "elsewhere"}, "district_id"),
])
def test_the_domain_refuses_bad_values_whoever_calls_it(changes, field):
    with pytest.raises(InvalidSetting) as caught:
        DistrictSettings("d").changed(changes, by="a", at=AT)
    assert caught.value.field == field
