import pytest
from pydantic import ValidationError
from settings_service.domain.rules import is_local_time, is_timezone
from settings_service.entrypoints.schemas import DistrictSettingsUpdate, field_errors


@pytest.mark.parametrize("value", ["00:00", "07:00", "09:05", "12:30", "19:59", "23:59"])
def test_local_times_from_midnight_to_one_minute_before(value):
    assert is_local_time(value)


@pytest.mark.parametrize("value", ["24:00", "25:00", "7:00", "07:0", "07:60", "0700", "07:00:00", " 07:00",
                                   "07:00\n", "٠٧:٠٠", "", None, 700])
def test_anything_else_is_not_a_local_time(value):
    assert not is_local_time(value)


def test_time_zones_are_iana_names_of_the_zone_database():
    assert is_timezone("America/New_York") and is_timezone("Europe/Berlin") and is_timezone("UTC")
    for bad in ("Mars/Olympus", "america/new_york", "EST5EDT ", "", "x" * 500, None):
        assert not is_timezone(bad), bad


def errors_of(body) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        DistrictSettingsUpdate.model_validate(body)
    return field_errors(caught.value)


def test_the_body_names_the_bad_field_with_its_dotted_path():
    assert errors_of({"notifications": {"timezone": "Mars/Olympus"}}) == {"notifications.timezone": "Unknown time zone"}
    assert list(errors_of({"notifications": {"digest_local_time": "25:00"}})) == ["notifications.digest_local_time"]
    assert list(errors_of({"profile_update_requests_enabled": "yes"})) == ["profile_update_requests_enabled"]
    assert list(errors_of({"sis_sync": {"contact_details_auto_update": 0}})) == ["sis_sync.contact_details_auto_update"]
    assert list(errors_of({"colour": "blue"})) == ["colour"]
    assert list(errors_of({"notifications": {"digest_local_time": 700}})) == ["notifications.digest_local_time"]


def test_null_is_refused_rather_than_read_as_unset():
    assert list(errors_of({"profile_update_requests_enabled": None})) == ["profile_update_requests_enabled"]
    assert list(errors_of({"notifications": None})) == ["notifications"]


def test_only_the_given_fields_become_changes():
    body = DistrictSettingsUpdate.model_validate({"notifications": {"timezone": "Asia/Tokyo"}})
    assert body.changes() == {"notifications": {"timezone": "Asia/Tokyo"}}
    assert DistrictSettingsUpdate.model_validate({}).changes() == {}
