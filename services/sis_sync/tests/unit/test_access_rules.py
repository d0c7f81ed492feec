from uuid import uuid4

from sis_sync_service.domain.access import Viewer, can_administer, can_view, listing_scope

D = "springfield"


def person(**permissions) -> Viewer:
    return Viewer.from_permissions(uuid4(), D, permissions.pop("active", True), permissions)


def test_the_system_credential_sees_every_district():
    scope = listing_scope(Viewer.system(), None)
    assert scope.district_id is None and scope.school_ids is None
    assert can_view(Viewer.system(), uuid4(), "elsewhere", [])


def test_district_admins_and_district_managers_see_their_whole_district_only():
    for viewer in (person(district_admin=True), person(users_manager={"scope": "district", "school_ids": []})):
        assert listing_scope(viewer, None).school_ids is None
        assert can_view(viewer, uuid4(), D, [])
        assert listing_scope(viewer, "elsewhere") is None
        assert not can_view(viewer, uuid4(), "elsewhere", [])


def test_a_school_manager_sees_users_of_their_schools_and_themselves():
    viewer = person(users_manager={"scope": "schools", "school_ids": ["s1", "s2"]})
    assert can_view(viewer, uuid4(), D, ["s2", "s9"])
    assert not can_view(viewer, uuid4(), D, ["s9"])
    assert not can_view(viewer, uuid4(), D, [])
    assert can_view(viewer, viewer.user_id, D, [])


def test_anyone_else_sees_only_themselves():
    viewer = person()
    assert can_view(viewer, viewer.user_id, D, ["s1"])
    assert not can_view(viewer, uuid4(), D, ["s1"])


def test_an_inactive_admin_keeps_no_powers():
    viewer = person(district_admin=True, active=False)
    assert not can_administer(viewer, D)
    assert not can_view(viewer, uuid4(), D, [])


def test_only_the_system_or_an_admin_of_that_district_administers_it():
    assert can_administer(Viewer.system(), D)
    assert can_administer(person(district_admin=True), D)
    assert not can_administer(person(district_admin=True), "elsewhere")
    assert not can_administer(person(users_manager={"scope": "district"}), D)
