"""Malformed values found by fuzzing (tests/integration/test_openapi_fuzz.py): each was a 500;
each is a 422 naming the parameter."""
from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest
from sis_sync_service.adapters.oneroster.generator import generate_roster

USERS = "/api/v1/directory/users"


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("hostile") / "roster.zip",
                           schools=2, students=6, parents=2, staff=4, seed=5)


def field_of(r: httpx.Response) -> str | None:
    return r.json()["error"].get("field") if r.status_code == 422 else f"status {r.status_code}: {r.text}"


async def test_a_malformed_district_id_in_a_path_or_a_query_is_a_422_naming_it(service):
    for bad in ("a\x00b", "bell\x07", ".exe", "x" * 65):
        r = await service.client.get(USERS, params={"district_id": bad}, headers=service.system)
        assert field_of(r) == "district_id", bad
        r = await service.client.get(f"/api/v1/districts/{quote(bad, safe='')}/sis-imports", headers=service.system)
        assert field_of(r) == "district_id", bad
    r = await service.client.get(USERS, params={"district_id": ""}, headers=service.system)
    assert field_of(r) == "district_id"  # an empty value never means "every district"


async def test_a_nul_in_a_directory_filter_or_a_forged_cursor_is_a_422_naming_it(service, district, roster):
    await service.import_roster(district, roster)
    everyone = len(await service.users(district))
    for name in ("sis_id", "role", "school_id"):
        r = await service.client.get(USERS, params={"district_id": district, name: "a\x00b"}, headers=service.system)
        assert field_of(r) == name
        r = await service.client.get(USERS, params={"district_id": district, name: ""}, headers=service.system)
        assert r.status_code == 200 and len(r.json()["items"]) == everyone, name  # an empty filter is no filter
    forged = base64.urlsafe_b64encode(json.dumps([district, "stu\x00"]).encode()).decode()
    r = await service.client.get(USERS, params={"cursor": forged}, headers=service.system)
    assert field_of(r) == "cursor"


async def test_a_grant_naming_a_school_id_no_event_may_carry_is_a_422_naming_it(service, district, roster):
    await service.import_roster(district, roster)
    (user, *_) = await service.users(district, role="teacher")
    for school_id in ("sch\x00", "sch\x1b[2J", "sch\u202e", "s" * 256):
        r = await service.client.put(f"{USERS}/{user['id']}/permissions", headers=service.system,
                                     json={"users_manager": {"scope": "schools", "school_ids": [school_id]}})
        assert field_of(r) == "users_manager.school_ids.0", school_id
