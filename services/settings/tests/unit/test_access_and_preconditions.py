from uuid import uuid4

import pytest
from settings_service.domain.access import Caller, DirectoryRecord, may_change, may_read
from settings_service.entrypoints.preconditions import etag, expected_versions

SYSTEM = Caller(None, None, is_system=True)


def person(district="d") -> Caller:
    return Caller(uuid4(), district)


def test_the_system_may_read_and_change_any_district():
    assert may_read(SYSTEM, None, "anywhere") == may_change(SYSTEM, None, "anywhere") == "allowed"


def test_an_active_admin_of_the_district_may_change_it():
    assert may_change(person(), DirectoryRecord("d", active=True, district_admin=True), "d") == "allowed"


def test_another_districts_admin_gets_not_found_for_reading_and_changing():
    admin = DirectoryRecord("other", active=True, district_admin=True)
    assert may_change(person("other"), admin, "d") == "not_found"
    assert may_read(person("other"), admin, "d") == "not_found"


def test_a_token_claiming_a_district_the_directory_disagrees_with_is_a_stranger():
    assert may_change(person("d"), DirectoryRecord("other", True, True), "d") == "not_found"


@pytest.mark.parametrize("record", [None, DirectoryRecord("d", True, False), DirectoryRecord("d", False, True)])
def test_unknown_non_admin_and_deactivated_people_may_not_change(record):
    assert may_change(person(), record, "d") == "forbidden"


def test_any_person_of_the_district_may_read_unless_deactivated():
    assert may_read(person(), None, "d") == "allowed"
    assert may_read(person(), DirectoryRecord("d", True, False), "d") == "allowed"
    assert may_read(person(), DirectoryRecord("d", False, False), "d") == "forbidden"


@pytest.mark.parametrize(("header", "versions"), [
    ('"3"', {3}), ("3", {3}), ('W/"3"', {3}), (' "3" ', {3}), ('"2", "3"', {2, 3}),
    ("abc", set()), ('"3', set()), ("", set()), ("³", set()), ('"-1"', set()),
])
def test_if_match_names_versions(header, versions):
    assert expected_versions(header) == frozenset(versions)


def test_no_if_match_or_a_star_is_no_precondition():
    assert expected_versions(None) is None and expected_versions("*") is None
    assert etag(7) == '"7"'
