"""The directory API: who sees whom, permission grants, validation, uploads and body limits."""
from __future__ import annotations

import os

import pytest
from sis_sync_service.adapters.oneroster.generator import generate_roster

GUARDIAN_ROLES = {"parent", "guardian", "relative"}


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("api") / "roster.zip",
                           schools=3, students=30, parents=20, staff=12, seed=17)


@pytest.fixture
async def district_with_staff(service, district, roster):
    await service.import_roster(district, roster)
    users = await service.users(district)
    staff = sorted((u for u in users if u["role"] not in GUARDIAN_ROLES | {"student"}), key=lambda u: u["sis_id"])
    schools = sorted({s for u in users for s in u["school_ids"]})
    return users, staff, schools


async def grant(service, user, permissions, headers=None):
    return await service.client.put(f"/api/v1/directory/users/{user['id']}/permissions", json=permissions,
                                    headers=headers or service.system)


async def test_visibility_follows_the_callers_permissions(service, district, district_with_staff):
    users, staff, schools = district_with_staff
    admin, district_manager, school_manager, plain = staff[0], staff[1], staff[2], staff[3]
    assert (await grant(service, admin, {"district_admin": True})).status_code == 200
    r = await grant(service, district_manager, {"users_manager": {"scope": "district"}}, headers=service.person(admin))
    assert r.status_code == 200 and r.json()["permissions"] == {"district_admin": False,
                                                                "users_manager": {"scope": "district"}}
    assert (await grant(service, school_manager, {"users_manager": {"scope": "schools", "school_ids": [schools[0]]}},
                        headers=service.person(admin))).status_code == 200

    everyone = {u["id"] for u in users}
    assert {u["id"] for u in await service.users(district, headers=service.person(admin))} == everyone
    assert {u["id"] for u in await service.users(district, headers=service.person(district_manager))} == everyone
    in_school = {u["id"] for u in users if schools[0] in u["school_ids"]} | {school_manager["id"]}
    assert {u["id"] for u in await service.users(district, headers=service.person(school_manager))} == in_school
    assert [u["id"] for u in await service.users(district, headers=service.person(plain))] == [plain["id"]]

    outsider = next(u for u in users if schools[0] not in u["school_ids"] and u["id"] != school_manager["id"])
    r = await service.client.get(f"/api/v1/directory/users/{outsider['id']}", headers=service.person(school_manager))
    assert r.status_code == 404
    r = await service.client.get(f"/api/v1/directory/users/{outsider['id']}", headers=service.person(admin))
    assert r.status_code == 200 and r.json()["sis_id"] == outsider["sis_id"]
    r = await service.client.get("/api/v1/directory/users/me", headers=service.person(plain))
    assert r.json()["id"] == plain["id"]
    r = await service.client.get("/api/v1/directory/users", params={"district_id": "elsewhere"},
                                 headers=service.person(admin))
    assert r.status_code == 403


async def test_filters_and_keyset_pages_cover_the_district_exactly_once(service, district, district_with_staff):
    users, _, schools = district_with_staff
    pages, cursor = [], None
    while True:
        params = {"district_id": district, "limit": 7, **({"cursor": cursor} if cursor else {})}
        body = (await service.client.get("/api/v1/directory/users", params=params, headers=service.system)).json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(u["id"] for page in pages for u in page) == sorted(u["id"] for u in users)
    assert len(pages) == -(-len(users) // 7)
    students = await service.users(district, role="student")
    assert len(students) == 30 and all(u["role"] == "student" for u in students)
    at_school = await service.users(district, school_id=schools[1])
    assert at_school and all(schools[1] in u["school_ids"] for u in at_school)
    one = users[5]
    assert [u["id"] for u in await service.users(district, sis_id=one["sis_id"])] == [one["id"]]
    r = await service.client.get("/api/v1/directory/users", params={"cursor": "garbage!"}, headers=service.system)
    assert r.status_code == 422


async def test_only_district_admins_grant_permissions_and_grants_are_validated(service, district, district_with_staff):
    _, staff, schools = district_with_staff
    admin, other = staff[0], staff[1]
    r = await grant(service, other, {"district_admin": True}, headers=service.person(admin))
    assert r.status_code == 404  # not an admin yet: cannot even see them
    manager = staff[2]
    assert (await grant(service, manager, {"users_manager": {"scope": "district"}})).status_code == 200
    r = await grant(service, other, {"district_admin": True}, headers=service.person(manager))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"  # sees them, may not grant
    assert (await grant(service, admin, {"district_admin": True})).status_code == 200
    for body, field in (
        ({"district_admin": "yes"}, "district_admin"),
        ({"users_manager": {"scope": "schools", "school_ids": ["no-such-school"]}}, "users_manager.school_ids"),
        ({"users_manager": {"scope": "schools", "school_ids": []}}, "users_manager.school_ids"),
        ({"users_manager": {"scope": "galaxy"}}, "users_manager.scope"),
        ({"district_admin": True, "superuser": True}, "superuser"),
    ):
        r = await grant(service, other, body, headers=service.person(admin))
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    r = await grant(service, other, {"users_manager": {"scope": "schools", "school_ids": schools[:2]}},
                    headers=service.person(admin))
    assert r.status_code == 200 and r.json()["version"] == 2
    again = await grant(service, other, {"users_manager": {"scope": "schools", "school_ids": schools[:2]}},
                        headers=service.person(admin))
    assert again.json()["version"] == 2  # the same grant again changes nothing


async def test_people_of_another_district_or_unknown_tokens_get_nothing(service, district, district_with_staff):
    users, staff, _ = district_with_staff
    stranger = {"id": users[0]["id"], "district_id": "elsewhere"}
    r = await service.client.get("/api/v1/directory/users", headers=service.person(stranger))
    assert r.status_code == 403
    r = await service.client.get("/api/v1/directory/users")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await service.start_import(district, b"PK", headers=service.person(staff[0]))
    assert r.status_code == 403
    run_id = (await service.client.get(f"/api/v1/districts/{district}/sis-imports",
                                       headers=service.system)).json()["items"][0]["id"]
    r = await service.client.get(f"/api/v1/sis-imports/{run_id}", headers=service.person(staff[0]))
    assert r.status_code == 404


async def test_a_district_admin_can_import_for_their_district(service, district, district_with_staff, roster):
    _, staff, _ = district_with_staff
    await grant(service, staff[0], {"district_admin": True})
    r = await service.start_import(district, roster, headers=service.person(staff[0]))
    assert r.status_code == 202, r.text
    await service.parts.runner.wait_idle()
    assert (await service.run(r.json()["id"]))["counts"]["unchanged"] == 62


async def test_uploads_may_be_raw_zip_bodies_and_larger_than_the_json_limit(service, district, roster):
    padded = service.zip_bytes({**service.read_zip(roster), "notes/readme.txt": os.urandom(256 * 1024)})
    assert len(padded) > 200 * 1024
    r = await service.client.post(f"/api/v1/districts/{district}/sis-imports", content=padded,
                                  headers={**service.system, "Content-Type": "application/zip"})
    assert r.status_code == 202, r.text
    await service.parts.runner.wait_idle()
    assert (await service.run(r.json()["id"]))["status"] == "succeeded"
    r = await service.client.post(f"/api/v1/districts/{district}/sis-imports", content=b"x",
                                  headers={**service.system, "Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_json_bodies_stay_limited_to_64_kib(service, district, district_with_staff):
    _, staff, _ = district_with_staff
    r = await grant(service, staff[0], {"district_admin": True, "users_manager": None, "x": "y" * 70_000})
    assert r.status_code == 422 and "larger than" in r.json()["error"]["message"]


async def test_district_ids_are_short_safe_strings(service):
    r = await service.start_import("bad id!", b"PK")
    assert r.status_code in (404, 422)
    r = await service.start_import("x" * 65, b"PK")
    assert r.status_code == 422
