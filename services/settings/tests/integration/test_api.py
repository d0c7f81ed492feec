import time
import uuid

import jwt
from pur_kit.config import DEV_JWT_SECRET

DEFAULTS = {
    "version": 0,
    "profile_update_requests_enabled": False,
    "notifications": {"daily_digest_enabled": True, "digest_local_time": "07:00", "timezone": "America/New_York"},
    "sis_sync": {"contact_details_auto_update": True},
    "updated_at": None,
    "updated_by": None,
}


def url(district: str) -> str:
    return f"/api/v1/districts/{district}/settings"


async def test_a_never_configured_district_reads_as_the_defaults_at_version_0(svc):
    district = svc.new_district()
    await svc.user(district)  # its roster was imported: the district exists
    for headers in (svc.headers(district=district), svc.headers()):  # a person of the district, the system
        r = await svc.client.get(url(district), headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"district_id": district, **DEFAULTS}
        assert r.headers["ETag"] == '"0"'


async def test_an_admin_enabling_the_feature_publishes_exactly_one_change_with_the_new_version(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    r = await svc.client.patch(url(district), json={"profile_update_requests_enabled": True},
                               headers=svc.headers(admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["profile_update_requests_enabled"], body["updated_by"]) == (1, True, str(admin.id))
    assert body["updated_at"] is not None and r.headers["ETag"] == '"1"'
    assert await svc.settings_of(district) == body

    await svc.drain()
    assert svc.published_types() == [svc.CHANGED]
    [event] = svc.published(svc.CHANGED)
    assert (event["district_id"], event["version"], event["settings"]) == (district, 1, body)


async def test_a_person_of_the_district_who_is_not_an_admin_gets_403_and_nothing_is_published(svc):
    district = svc.new_district()
    staff = await svc.user(district, admin=False)
    deactivated_admin = await svc.user(district, admin=True, deactivated=True)
    for headers in (svc.headers(staff), svc.headers(deactivated_admin),
                    svc.headers(district=district)):  # a valid token the directory never mentioned
        r = await svc.client.patch(url(district), json={"profile_update_requests_enabled": True}, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    # Reading is fine for the district's people (the submit page needs the toggle).
    assert (await svc.client.get(url(district), headers=svc.headers(staff))).status_code == 200
    await svc.drain()
    assert svc.published() == []
    assert (await svc.settings_of(district))["version"] == 0


async def test_another_districts_admin_gets_404_for_reading_and_changing(svc):
    district, elsewhere = svc.new_district(), svc.new_district()
    other_admin = await svc.user(elsewhere, admin=True)
    r = await svc.client.get(url(district), headers=svc.headers(other_admin))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    r = await svc.client.patch(url(district), json={"profile_update_requests_enabled": True},
                               headers=svc.headers(other_admin))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    # Even with a bad body the answer is 404: nothing about the district is revealed.
    r = await svc.client.patch(url(district), json={"nonsense": 1}, headers=svc.headers(other_admin))
    assert r.status_code == 404
    await svc.drain()
    assert svc.published() == []


async def test_the_system_credential_may_change_any_known_district_and_is_recorded(svc):
    district = svc.new_district()
    await svc.user(district)
    r = await svc.client.patch(url(district), content=b'{"sis_sync": {"contact_details_auto_update": false}}',
                               headers={**svc.headers(), "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["updated_by"]) == (1, "system")
    assert r.json()["sis_sync"] == {"contact_details_auto_update": False}


async def test_a_patch_that_changes_nothing_keeps_the_version_and_publishes_nothing(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    for body in ({}, {"profile_update_requests_enabled": False}, {"notifications": {"timezone": "America/New_York"}}):
        r = await svc.client.patch(url(district), json=body, headers=svc.headers(admin))
        assert (r.status_code, r.json()["version"]) == (200, 0)
    await svc.drain()
    assert svc.published() == []


async def test_missing_expired_forged_and_malformed_tokens_get_401(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    forged = jwt.encode({"sub": str(admin.id), "district_id": district, "exp": int(time.time()) + 600},
                        "not-the-secret-but-long-enough-0123456789", algorithm="HS256")
    expired = svc.token(admin, ttl=-30)
    no_district = jwt.encode({"sub": str(uuid.uuid4()), "exp": int(time.time()) + 600}, DEV_JWT_SECRET,
                             algorithm="HS256")
    cases = [{}, svc.bearer(forged), svc.bearer(expired), svc.bearer(no_district), {"Authorization": "Basic abc"}]
    for headers in cases:
        for method in ("GET", "PATCH"):
            r = await svc.client.request(method, url(district), headers=headers,
                                         json={"profile_update_requests_enabled": True} if method == "PATCH" else None)
            assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized"), (headers, method)
    await svc.drain()
    assert svc.published() == []


async def test_a_district_no_roster_was_imported_for_is_404_and_nothing_is_stored_or_published(svc):
    unknown = svc.new_district()
    await svc.user(svc.new_district())  # another district is known
    for method, body in (("GET", None), ("PATCH", {"profile_update_requests_enabled": True})):
        r = await svc.client.request(method, url(unknown), json=body, headers=svc.headers())
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found"), method
        assert "import its roster first" in r.json()["error"]["message"]
    r = await svc.client.patch(url(unknown), json={"profile_update_requests_enabled": True},
                               headers=svc.headers(district=unknown))  # a person of no known district
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    await svc.drain()
    assert svc.published() == []
    assert await svc.db.fetchval("SELECT count(*) FROM district_settings WHERE district_id = $1", unknown) == 0


async def test_a_district_becomes_configurable_once_the_directory_tells_of_it(svc):
    district = svc.new_district()
    r = await svc.client.patch(url(district), json={"profile_update_requests_enabled": True}, headers=svc.headers())
    assert r.status_code == 404
    await svc.user(district, deactivated=True)  # even a deactivated user proves the district was imported
    r = await svc.client.patch(url(district), json={"profile_update_requests_enabled": True}, headers=svc.headers())
    assert (r.status_code, r.json()["version"]) == (200, 1)
    await svc.drain()
    assert [e["district_id"] for e in svc.published(svc.CHANGED)] == [district]
