import asyncio

CHANGES = [
    {"profile_update_requests_enabled": True},
    {"notifications": {"daily_digest_enabled": False}},
    {"notifications": {"digest_local_time": "06:15"}},
    {"notifications": {"timezone": "America/Chicago"}},
    {"sis_sync": {"contact_details_auto_update": False}},
]
# Each differs from every state the first round can leave (a no-op would rightly answer 200).
OTHER_CHANGES = [{"notifications": {"digest_local_time": f"1{i}:00", "timezone": "Asia/Tokyo"}} for i in range(5)]


async def test_concurrent_patches_with_the_same_if_match_let_exactly_one_win(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    url = f"/api/v1/districts/{district}/settings"

    async def patch(body: dict, tag: str):
        return await svc.client.patch(url, json=body, headers={**svc.headers(admin), "If-Match": tag})

    # The first round races on a district that has no row yet; the second on an existing version.
    for expected, tag, bodies in ((0, '"0"', CHANGES), (1, 'W/"1"', OTHER_CHANGES)):
        answers = await asyncio.gather(*(patch(body, tag) for body in bodies))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] + [412] * (len(CHANGES) - 1)
        [winner] = [r for r in answers if r.status_code == 200]
        assert (winner.json()["version"], winner.headers["ETag"]) == (expected + 1, f'"{expected + 1}"')
        for loser in (r for r in answers if r.status_code == 412):
            error = loser.json()["error"]
            assert (error["code"], error["current_version"]) == ("precondition_failed", expected + 1)
    assert (await svc.settings_of(district))["version"] == 2

    await svc.drain()
    assert [e["version"] for e in svc.published(svc.CHANGED)] == [1, 2]


async def test_concurrent_patches_without_if_match_take_turns_and_lose_no_update(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    url = f"/api/v1/districts/{district}/settings"
    answers = await asyncio.gather(*(svc.client.patch(url, json=body, headers=svc.headers(admin))
                                     for body in CHANGES))
    assert [r.status_code for r in answers] == [200] * len(CHANGES)
    assert sorted(r.json()["version"] for r in answers) == list(range(1, len(CHANGES) + 1))

    final = await svc.settings_of(district)
    assert final["version"] == len(CHANGES)
    assert final["profile_update_requests_enabled"] is True
    assert final["notifications"] == {"daily_digest_enabled": False, "digest_local_time": "06:15",
                                      "timezone": "America/Chicago"}
    assert final["sis_sync"] == {"contact_details_auto_update": False}

    await svc.drain()
    versions = [e["version"] for e in svc.published(svc.CHANGED)]
    assert versions == sorted(versions) == list(range(1, len(CHANGES) + 1))  # strictly increasing
    assert svc.published(svc.CHANGED)[-1]["settings"] == final


async def test_if_match_accepts_quoted_bare_and_weak_versions_and_refuses_stale_ones(svc):
    district = svc.new_district()
    await svc.user(district)
    url = f"/api/v1/districts/{district}/settings"
    system = svc.headers()
    for version, tag in enumerate(('"0"', "1", 'W/"2"', "*")):
        r = await svc.client.patch(url, json={"notifications": {"digest_local_time": f"0{version}:30"}},
                                   headers={**system, "If-Match": tag})
        assert (r.status_code, r.json()["version"]) == (200, version + 1), tag
    for stale in ('"2"', "abc", ""):
        r = await svc.client.patch(url, json={"profile_update_requests_enabled": True},
                                   headers={**system, "If-Match": stale})
        assert (r.status_code, r.json()["error"]["code"]) == (412, "precondition_failed"), stale
    assert (await svc.settings_of(district))["profile_update_requests_enabled"] is False
