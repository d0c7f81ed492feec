import pytest
from pur_contracts import UserPermissions, UsersManagerScope
from sis_sync_service.domain.contact import normalize_contact_changes
from sis_sync_service.domain.errors import InvalidValue
from sis_sync_service.domain.permissions import checked_permissions


def test_contact_values_are_validated_and_phones_compacted():
    assert normalize_contact_changes({"email": " a.b@example.org ", "phone": "+1 (555) 555-0123", "sms": None}) == {
        "email": "a.b@example.org", "phone": "+15555550123", "sms": None}
    assert normalize_contact_changes({"sms": ""}) == {"sms": None}


@pytest.mark.parametrize("field,value", [("email", "not-an-email"), ("email", "a@b"), ("email", "x" * 250 + "@ex.org"),
                                         ("phone", "12"), ("phone", "+0123456789"), ("sms", "call me")])
def test_bad_contact_values_name_the_field(field, value):
    with pytest.raises(InvalidValue) as error:
        normalize_contact_changes({field: value})
    assert error.value.field == field


def test_an_empty_contact_edit_is_refused():
    with pytest.raises(InvalidValue):
        normalize_contact_changes({})


def test_school_scoped_managers_need_known_schools_of_the_district():
    schools = {"s1", "s2"}
    ok = checked_permissions(UserPermissions(users_manager=UsersManagerScope(scope="schools", school_ids=["s2", "s1", "s2"])), schools)
    assert ok.users_manager.school_ids == ["s1", "s2"]
    for bad in (["s9"], []):
        with pytest.raises(InvalidValue) as error:
            checked_permissions(UserPermissions(users_manager=UsersManagerScope(scope="schools", school_ids=bad)), schools)
        assert error.value.field == "users_manager.school_ids"


def test_district_scope_takes_no_school_list():
    with pytest.raises(InvalidValue):
        checked_permissions(UserPermissions(users_manager=UsersManagerScope(scope="district", school_ids=["s1"])), {"s1"})
    assert checked_permissions(UserPermissions(district_admin=True), set()).district_admin
