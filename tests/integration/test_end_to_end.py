"""The product story of docs/product-rules.md, driven only through public HTTP APIs and the mailbox."""
from __future__ import annotations

import asyncio
from pathlib import Path

from pur_kit.testing import EventSpy, wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

DISTRICT = "e2e"


async def import_roster(sys_, path: Path) -> dict:
    with path.open("rb") as f:
        r = await sys_.client.post(f"{sys_.urls['sis_sync']}/api/v1/districts/{DISTRICT}/sis-imports",
                                   files={"file": (path.name, f.read(), "application/zip")},
                                   headers=sys_.system_headers)
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    run = {}

    async def finished() -> bool:
        nonlocal run
        run = (await sys_.client.get(f"{sys_.urls['sis_sync']}/api/v1/sis-imports/{run_id}",
                                     headers=sys_.system_headers)).json()
        return run["status"] in ("succeeded", "failed")

    await wait_until(finished, timeout=60, message="import run")
    assert run["status"] == "succeeded", run
    return run


async def directory(sys_, **filters) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"district_id": DISTRICT, "limit": 200, **filters}
        if cursor:
            params["cursor"] = cursor
        r = await sys_.client.get(f"{sys_.urls['sis_sync']}/api/v1/directory/users", params=params,
                                  headers=sys_.system_headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json().get("next_cursor")
        if not cursor:
            return items


async def grant(sys_, user: dict, permissions: dict) -> None:
    r = await sys_.client.put(f"{sys_.urls['sis_sync']}/api/v1/directory/users/{user['id']}/permissions",
                              json=permissions, headers=sys_.system_headers)
    assert r.status_code == 200, r.text


async def submit(sys_, user: dict, body: dict):
    return await sys_.client.post(f"{sys_.urls['requests']}/api/v1/requests", json=body,
                                  headers=sys_.person_headers(user))


async def patch_settings(sys_, admin: dict, body: dict) -> dict:
    r = await sys_.client.patch(f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings", json=body,
                                headers=sys_.person_headers(admin))
    assert r.status_code == 200, r.text
    return r.json()


async def listed(sys_, manager: dict, status: str = "new", *, granted: bool = True) -> set[str] | None:
    """The ids a manager sees; with `granted=False` None while their permission has not arrived yet
    (settings changes travel on a queue of their own, so enabling can overtake the grants)."""
    r = await sys_.client.get(f"{sys_.urls['requests']}/api/v1/requests", params={"status": status, "limit": 200},
                              headers=sys_.person_headers(manager))
    if r.status_code == 403 and not granted:
        return None
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


async def test_the_whole_product_story(system, tmp_path):
    sys_ = system
    roster = generate_roster(tmp_path / "roster.zip", schools=3, students=60, parents=40, staff=15, seed=3)

    # 1. import a roster, grant the admin and the Users Managers; the feature is off by default
    run = await import_roster(sys_, roster)
    assert run["counts"]["created"] == 115
    staff = sorted((u for u in await directory(sys_) if u["role"] not in ("student", "parent", "guardian")),
                   key=lambda u: u["sis_id"])
    students = [u for u in await directory(sys_, role="student")]
    school_a, school_b = sorted({s for u in students for s in u["school_ids"]})[:2]
    admin, district_manager = staff[0], staff[1]
    manager_a = next(u for u in staff[2:] if school_a in u["school_ids"])
    manager_b = next(u for u in staff[2:] if school_b in u["school_ids"] and u is not manager_a)
    await grant(sys_, admin, {"district_admin": True, "users_manager": None})
    await grant(sys_, district_manager, {"district_admin": False, "users_manager": {"scope": "district"}})
    await grant(sys_, manager_a, {"district_admin": False, "users_manager": {"scope": "schools", "school_ids": [school_a]}})
    await grant(sys_, manager_b, {"district_admin": False, "users_manager": {"scope": "schools", "school_ids": [school_b]}})
    student_a = next(u for u in students if u["school_ids"] == [school_a])
    student_b = next(u for u in students if u["school_ids"] == [school_b])

    async def refused_as_disabled() -> bool:
        r = await submit(sys_, student_a, {"note": "hello"})
        return r.status_code == 403 and r.json()["error"]["code"] == "feature_disabled"

    await wait_until(refused_as_disabled, timeout=20, message="submission refused while the feature is off")

    # 2. the admin enables; users at two schools submit; scopes hold
    async def admin_can_patch() -> bool:
        r = await sys_.client.patch(f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings",
                                    json={"profile_update_requests_enabled": True},
                                    headers=sys_.person_headers(admin))
        return r.status_code == 200

    await wait_until(admin_can_patch, timeout=20, message="the settings service to know the admin")
    new_email = f"renamed.{student_a['sis_id'].lower()}@example.org"
    created = {}

    async def submitted(user, body, key) -> bool:
        r = await submit(sys_, user, body)
        if r.status_code == 201:
            created[key] = r.json()
        return r.status_code == 201

    await wait_until(lambda: submitted(student_a, {"changes": {"email": new_email}}, "a"), timeout=20,
                     message="submission accepted once enabled")
    await wait_until(lambda: submitted(student_b, {"changes": {"phone": "+15555550111"}, "note": "new phone"}, "b"),
                     timeout=20, message="second submission")
    req_a, req_b = created["a"]["id"], created["b"]["id"]

    async def scopes_visible() -> bool:
        return (await listed(sys_, district_manager, granted=False) == {req_a, req_b}
                and await listed(sys_, manager_a, granted=False) == {req_a}
                and await listed(sys_, manager_b, granted=False) == {req_b})

    await wait_until(scopes_visible, timeout=20, message="scoped lists")
    base = sys_.urls["requests"]
    r = await sys_.client.get(f"{base}/api/v1/requests/{req_b}", headers=sys_.person_headers(manager_a))
    assert r.status_code == 404
    r = await sys_.client.post(f"{base}/api/v1/requests/{req_b}/mark-done", headers=sys_.person_headers(manager_a))
    assert r.status_code == 404

    # 3. Mark as Done then Restore: no mail and no event towards the requester
    async with EventSpy(sys_.rabbitmq_url, sys_.topology.exchange, ["#"]) as spy:
        mails_before = len(sys_.mailbox.messages)
        r = await sys_.client.post(f"{base}/api/v1/requests/{req_a}/mark-done", headers=sys_.person_headers(manager_a))
        assert r.status_code == 200 and r.json()["status"] == "done"
        assert await listed(sys_, manager_a, "done") == {req_a}
        r = await sys_.client.post(f"{base}/api/v1/requests/{req_a}/restore", headers=sys_.person_headers(manager_a))
        assert r.status_code == 200 and r.json()["status"] == "new"
        assert await listed(sys_, manager_a, "new") == {req_a}
        await spy.wait_for(2)
        await asyncio.sleep(0.5)
        assert [m.type for m in spy.messages] == ["request.marked_done", "request.restored"]
        assert len(sys_.mailbox.messages) == mails_before

    # 4. a digest run for today: one email per manager with exactly their New requests
    expected = {district_manager["email"]: {req_a, req_b}, manager_a["email"]: {req_a}, manager_b["email"]: {req_b}}
    planned: dict[str, set[str]] = {}

    async def digest_projection_caught_up() -> bool:
        nonlocal planned
        r = await sys_.client.post(f"{sys_.urls['digest']}/api/v1/digests/run",
                                   json={"district_id": DISTRICT, "dry_run": True}, headers=sys_.system_headers)
        assert r.status_code == 200, r.text
        planned = {e["to"]: set(e["request_ids"]) for e in r.json()["emails"]}
        return planned == expected

    await wait_until(digest_projection_caught_up, timeout=20, message=f"digest plan {expected}")
    r = await sys_.client.post(f"{sys_.urls['digest']}/api/v1/digests/run", json={"district_id": DISTRICT},
                               headers=sys_.system_headers)
    assert r.status_code == 200, r.text
    await wait_until(lambda: len(sys_.mailbox.messages) >= 3, timeout=20, message="three digests")
    for address, request_ids in expected.items():
        (mail,) = sys_.mailbox.to(address)
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert f"{len(request_ids)} open profile update request" in text
        requesters = {req_a: student_a, req_b: student_b}
        for request_id in request_ids:
            full_name = f"{requesters[request_id]['given_name']} {requesters[request_id]['family_name']}"
            assert full_name in text and full_name.split()[0] in html
        assert new_email not in text and "+15555550111" not in text  # field names, never values
    assert sys_.mailbox.to(admin["email"]) == []
    r = await sys_.client.post(f"{sys_.urls['digest']}/api/v1/digests/run", json={"district_id": DISTRICT},
                               headers=sys_.system_headers)
    assert r.status_code == 200
    await asyncio.sleep(0.5)
    assert len(sys_.mailbox.messages) == 3  # never two digests for the same person and day

    # 5. a SIS re-import carrying the requested email: the request appears applied
    def apply_email(row: dict) -> dict:
        if row["sourcedId"] == student_a["sis_id"]:
            row["email"] = new_email
        return row

    await import_roster(sys_, rewrite_users(roster, tmp_path / "roster2.zip", apply_email))

    async def appears_applied() -> bool:
        r = await sys_.client.get(f"{base}/api/v1/requests/{req_a}", headers=sys_.person_headers(manager_a))
        return r.json()["appears_applied"] is True

    await wait_until(appears_applied, timeout=20, message="appears_applied")

    # 6. disabled with SIS-owned contact details: a 403 that explains; then self-edits survive imports
    await patch_settings(sys_, admin, {"profile_update_requests_enabled": False})

    async def refused_with_sis_reason() -> bool:
        r = await submit(sys_, student_b, {"note": "again"})
        return r.status_code == 403 and "SIS" in r.json()["error"]["message"]

    await wait_until(refused_with_sis_reason, timeout=20, message="the SIS explanation")
    await patch_settings(sys_, admin, {"sis_sync": {"contact_details_auto_update": False}})

    async def self_edited() -> bool:
        r = await sys_.client.patch(f"{sys_.urls['sis_sync']}/api/v1/directory/users/me/contact",
                                    json={"phone": "+15555550177"}, headers=sys_.person_headers(student_b))
        return r.status_code == 200

    await wait_until(self_edited, timeout=20, message="self-edit allowed once the SIS does not own contacts")
    await import_roster(sys_, roster)
    me = [u for u in await directory(sys_, sis_id=student_b["sis_id"])][0]
    assert me["phone"] == "+15555550177"
