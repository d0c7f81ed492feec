"""Who sees which request, decided from the directory projection."""
from __future__ import annotations

import uuid

from requests_service.domain.access import Viewer


def manager(scope, schools=(), active=True, district="d1") -> Viewer:
    return Viewer.of_user(user_id=uuid.uuid4(), district_id=district, active=active, manager_scope=scope,
                          manager_school_ids=schools)


def test_a_district_manager_sees_the_whole_district_and_nothing_else():
    v = manager("district")
    assert v.can_see("d1", []) and v.can_see("d1", ["s9"]) and not v.can_see("d2", ["s1"])
    assert v.schools_to_read(None) is None and v.schools_to_read("s3") == ["s3"]


def test_a_school_manager_sees_requesters_of_their_schools_only():
    v = manager("schools", ["s1", "s2"])
    assert v.can_see("d1", ["s2", "s7"]) and not v.can_see("d1", ["s3"]) and not v.can_see("d1", [])
    assert not v.can_see("d2", ["s1"])
    assert v.schools_to_read(None) == ["s1", "s2"]
    assert v.schools_to_read("s2") == ["s2"] and v.schools_to_read("s3") == []


def test_everybody_else_sees_nothing_and_the_system_sees_everything():
    for v in (manager(None), manager("district", active=False), Viewer.nobody("d1")):
        assert not v.can_list and not v.can_see("d1", ["s1"])
    system = Viewer.system()
    assert system.can_list and system.can_see("any", []) and system.actor == "system"
