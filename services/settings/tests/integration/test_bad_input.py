import json

BAD_BODIES = [
    ({"notifications": {"timezone": "Mars/Olympus"}}, "notifications.timezone"),
    ({"notifications": {"timezone": "america/new_york"}}, "notifications.timezone"),
    ({"notifications": {"digest_local_time": "25:00"}}, "notifications.digest_local_time"),
    ({"notifications": {"digest_local_time": "7:00"}}, "notifications.digest_local_time"),
    ({"notifications": {"digest_local_time": 700}}, "notifications.digest_local_time"),
    ({"profile_update_requests_enabled": "yes"}, "profile_update_requests_enabled"),
    ({"profile_update_requests_enabled": 1}, "profile_update_requests_enabled"),
    ({"profile_update_requests_enabled": None}, "profile_update_requests_enabled"),
    ({"notifications": {"daily_digest_enabled": "true"}}, "notifications.daily_digest_enabled"),
    ({"sis_sync": {"contact_details_auto_update": "on"}}, "sis_sync.contact_details_auto_update"),
    ({"notifications": "07:00"}, "notifications"),
    ({"sis_sync": []}, "sis_sync"),
    ({"feature_enabled": True}, "feature_enabled"),
    ({"notifications": {"send_at": "07:00"}}, "notifications.send_at"),
    ({"version": 5}, "version"),
    # A valid field does not carry an invalid one through: nothing at all changes.
    ({"profile_update_requests_enabled": True, "notifications": {"timezone": "Nowhere"}}, "notifications.timezone"),
]


async def test_bad_inputs_get_422_naming_the_field_and_change_nothing(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    url = f"/api/v1/districts/{district}/settings"
    headers = svc.headers(admin)
    seen = []
    for body, field in BAD_BODIES:
        r = await svc.client.patch(url, json=body, headers=headers)
        error = r.json()["error"]
        seen.append((body, r.status_code, error["code"], error.get("field")))
        assert field in error["message"]
    assert seen == [(body, 422, "validation_error", field) for body, field in BAD_BODIES]

    raw_cases = [
        (json.dumps({"profile_update_requests_enabled": True, "pad": "x" * 70_000}), "body"),  # over 64 KiB
        ('{"profile_update_requests_enabled": tru', "body"),  # not JSON
        ("[true]", "body"),
        ("null", "body"),
    ]
    for content, field in raw_cases:
        r = await svc.client.patch(url, content=content, headers={**headers, "Content-Type": "application/json"})
        assert (r.status_code, r.json()["error"]["field"]) == (422, field), content[:40]

    await svc.drain()
    assert svc.published() == []
    current = await svc.settings_of(district)
    assert (current["version"], current["profile_update_requests_enabled"]) == (0, False)


async def test_a_bad_district_id_is_422_naming_it(svc):
    r = await svc.client.get(f"/api/v1/districts/{'x' * 65}/settings", headers=svc.headers())
    assert (r.status_code, r.json()["error"]["field"]) == (422, "district_id")


async def test_a_district_id_with_control_characters_is_422_and_nothing_is_published(svc):
    for bad in ("%07bell%0D%0Ainjected", "%00", "a%E2%80%AEb", "-leading-dash"):
        for method in ("GET", "PATCH"):
            r = await svc.client.request(method, f"/api/v1/districts/{bad}/settings", headers=svc.headers(),
                                         json={"profile_update_requests_enabled": True} if method == "PATCH" else None)
            assert (r.status_code, r.json()["error"]["field"]) == (422, "district_id"), (bad, method)
    await svc.drain()
    assert svc.published() == []
