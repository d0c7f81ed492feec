"""POST /api/v1/digests/run and GET /api/v1/digests: who may call them, and what they answer."""
from __future__ import annotations

from datetime import timedelta

from zoneinfo import ZoneInfo

import pytest
from digest_service.domain.schedule import local_date_of

RUN = "/api/v1/digests/run"
LOG = "/api/v1/digests"


async def test_a_district_admin_runs_and_reads_the_digest_of_their_district(svc, cast):
    admin = svc.headers(cast.admin)
    r = await svc.client.post(RUN, json={"dry_run": False}, headers=admin)    # district: the caller's
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sent"] == 3 and body["runs"][0]["district_id"] == cast.district
    assert body["runs"][0]["local_date"] == local_date_of(svc.clock(), ZoneInfo("America/New_York")).isoformat()
    log = await svc.client.get(LOG, params={"district_id": cast.district}, headers=admin)
    assert log.status_code == 200
    items = log.json()["items"]
    assert {i["recipient"]["name"] for i in items} == {"Mia Alder", "Max Birch", "Dora District"}
    assert all(i["status"] == "sent" and i["attempts"] == 1 and i["sent_at"] for i in items)
    (mia,) = [i for i in items if i["recipient"]["name"] == "Mia Alder"]
    assert mia["request_ids"] == [str(cast.req_ab.id), str(cast.req_a.id)] and mia["total_open"] == 2


async def test_another_districts_digest_is_not_found_for_a_person(svc, cast):
    other = svc.world
    d2 = f"{cast.district}x"
    await other.settings(d2)
    admin = svc.headers(cast.admin)
    r = await svc.client.post(RUN, json={"district_id": d2}, headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await svc.client.get(LOG, params={"district_id": d2}, headers=admin)).status_code == 404


async def test_only_district_admins_may_run_or_read_digests(svc, cast):
    import uuid

    from pur_contracts import DirectoryUser

    stranger = DirectoryUser(id=uuid.uuid4(), district_id=cast.district, sis_id="x", role="teacher",
                             given_name="S", family_name="T")   # not in the directory at all
    for user in (cast.manager_a, cast.district_manager, cast.pupil_a, stranger):
        r = await svc.client.post(RUN, json={"dry_run": True}, headers=svc.headers(user))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (await svc.client.get(LOG, headers=svc.headers(user))).status_code == 403
    assert svc.mailbox.messages == []


async def test_a_deactivated_admin_may_no_longer_run_digests(svc, cast):
    await svc.world.put_user(cast.admin, active=False)
    r = await svc.client.post(RUN, json={"dry_run": True}, headers=svc.headers(cast.admin))
    assert r.status_code == 403


async def test_the_operator_may_run_any_district_or_all_of_them(svc, cast):
    r = await svc.client.post(RUN, json={"district_id": "no-such-district"}, headers=svc.system)
    assert r.status_code == 404
    r = await svc.client.post(RUN, json={"dry_run": True}, headers=svc.system)
    assert r.status_code == 200
    assert {e["district_id"] for e in r.json()["emails"]} >= {cast.district}
    r = await svc.client.get(LOG, headers=svc.system)
    assert r.status_code == 200


async def test_calls_without_a_valid_token_are_unauthorized(svc):
    assert (await svc.client.post(RUN, json={})).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    r = await svc.client.get(LOG, headers=bad)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("body, field", [
    ({"dry_run": "yes"}, "dry_run"),
    ({"dry_run": 1}, "dry_run"),
    ({"date": "09/03/2026"}, "date"),
    ({"date": "2026-02-30"}, "date"),
    ({"district": "x"}, "district"),
    ({"district_id": 7}, "district_id"),
])
async def test_bad_bodies_are_refused_naming_the_field(svc, body, field):
    r = await svc.client.post(RUN, json=body, headers=svc.system)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


async def test_a_date_in_the_future_is_refused_and_a_past_date_is_run(svc, cast):
    today = local_date_of(svc.clock(), ZoneInfo("America/New_York"))   # the district's day, not UTC's
    future = (today + timedelta(days=2)).isoformat()
    r = await svc.client.post(RUN, json={"district_id": cast.district, "date": future}, headers=svc.system)
    assert r.status_code == 422 and r.json()["error"]["field"] == "date"
    yesterday = (today - timedelta(days=2)).isoformat()
    r = await svc.client.post(RUN, json={"district_id": cast.district, "date": yesterday}, headers=svc.system)
    assert r.status_code == 200 and r.json()["runs"][0]["local_date"] == yesterday and r.json()["sent"] == 3
    log = (await svc.client.get(LOG, params={"district_id": cast.district, "date": yesterday},
                                headers=svc.system)).json()
    assert len(log["items"]) == 3


async def test_the_delivery_log_pages_newest_day_first(svc, cast):
    today = local_date_of(svc.clock(), ZoneInfo("America/New_York"))   # the district's day, not UTC's
    for days_ago in (2, 1, 0):
        date = (today - timedelta(days=days_ago)).isoformat()
        r = await svc.client.post(RUN, json={"district_id": cast.district, "date": date}, headers=svc.system)
        assert r.json()["sent"] == 3
    seen, cursor = [], None
    while True:
        params = {"district_id": cast.district, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await svc.client.get(LOG, params=params, headers=svc.system)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 9 and len({i["id"] for i in seen}) == 9
    days = [i["local_date"] for i in seen]
    assert days == sorted(days, reverse=True)
    bad = await svc.client.get(LOG, params={"cursor": "!!"}, headers=svc.system)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"



async def test_a_malformed_district_id_is_a_422_naming_it_for_the_run_and_the_log(svc, cast):
    # found by fuzzing: a NUL reached PostgreSQL (a 500); an empty query value must not mean "every district"
    for bad in ("a\x00b", "", ".exe", "bell\x07", "x" * 65):
        for headers in (svc.system, svc.headers(cast.admin)):
            r = await svc.client.post(RUN, json={"district_id": bad, "dry_run": True}, headers=headers)
            assert (r.status_code, r.json()["error"].get("field")) == (422, "district_id"), (bad, r.text)
            r = await svc.client.get(LOG, params={"district_id": bad}, headers=headers)
            assert (r.status_code, r.json()["error"].get("field")) == (422, "district_id"), (bad, r.text)
