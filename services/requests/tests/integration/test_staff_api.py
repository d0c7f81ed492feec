"""The staff API: tabs, filters, search, keyset pages, CSV export, details."""
from __future__ import annotations

import csv
import io

API = "/api/v1/requests"


async def submit(svc, user, body):
    r = await svc.client.post(API, json=body, headers=svc.headers(user))
    assert r.status_code == 201, r.text
    return r.json()


async def ids(svc, user, **params) -> list[str]:
    r = await svc.client.get(API, params=params, headers=svc.headers(user))
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


async def test_tabs_school_filter_and_search_follow_the_managers_scope(svc, cast):
    a1 = await submit(svc, cast.requester_a, {"note": "first"})
    b1 = await submit(svc, cast.requester_b, {"changes": {"phone": "+15555550111"}})
    a2 = await submit(svc, cast.requester_a, {"changes": {"family_name": "Requester-Smith"}})
    r = await svc.client.post(f"{API}/{a1['id']}/mark-done", headers=svc.headers(cast.manager_a))
    assert r.status_code == 200

    dm = cast.district_manager
    assert await ids(svc, dm) == [a2["id"], b1["id"]]                      # New, newest first
    assert await ids(svc, dm, status="done") == [a1["id"]]
    assert await ids(svc, dm, status="all") == [a2["id"], b1["id"], a1["id"]]
    assert await ids(svc, dm, school_id="sch-b") == [b1["id"]]
    assert await ids(svc, dm, q="rEqUeS") == [a2["id"]]
    assert await ids(svc, dm, q="builder", status="all") == [b1["id"]]
    assert await ids(svc, dm, q="%") == []                                   # LIKE wildcards are literal

    assert await ids(svc, cast.manager_a, status="all") == [a2["id"], a1["id"]]
    assert await ids(svc, cast.manager_a, school_id="sch-b") == []          # not one of their schools
    assert await ids(svc, cast.manager_b) == [b1["id"]]
    assert await ids(svc, cast.other_manager, status="all") == []
    assert await ids(svc, cast.other_manager, status="all", district_id=cast.district) == []

    r = await svc.client.get(API, params={"status": "all", "district_id": cast.district}, headers=svc.system)
    assert [i["id"] for i in r.json()["items"]] == [a2["id"], b1["id"], a1["id"]]
    r = await svc.client.get(API, headers=svc.system)
    assert r.status_code == 422 and r.json()["error"]["field"] == "district_id"


async def test_keyset_pages_walk_the_whole_list_once_in_a_stable_order(svc, cast):
    created = [(await submit(svc, u, {"note": f"n{i}"}))["id"]
               for i, u in enumerate([cast.requester_a, cast.requester_b] * 6)]
    for manager, expected in ((cast.district_manager, created[::-1]), (cast.manager_a, created[0::2][::-1])):
        seen, cursor = [], None
        while True:
            params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            r = await svc.client.get(API, params=params, headers=svc.headers(manager))
            assert r.status_code == 200
            seen += [i["id"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == expected


async def test_bad_list_parameters_are_422(svc, cast):
    for params in ({"status": "open"}, {"limit": 0}, {"limit": 201}, {"cursor": "garbage!"}, {"cursor": "YWJj"}):
        r = await svc.client.get(API, params=params, headers=svc.headers(cast.district_manager))
        assert r.status_code == 422, params


async def test_a_requester_in_two_schools_appears_once_for_a_manager_of_both(svc, cast):
    w = svc.world
    both = await w.user(cast.district, schools=["sch-a", "sch-b"], given="Two", family="Schools")
    manager = await w.user(cast.district, schools=["sch-a"], role="teacher", manager=["sch-a", "sch-b"])
    req = await submit(svc, both, {"note": "hi"})
    assert await ids(svc, manager) == [req["id"]]
    assert await ids(svc, cast.manager_b) == [req["id"]]


async def test_details_show_current_and_requested_values_the_note_and_the_history(svc, cast):
    req = await submit(svc, cast.requester_a, {"changes": {"email": "rita.new@example.org", "sms": "+15555550123"},
                                               "note": "<b>hi</b>"})
    r = await svc.client.get(f"{API}/{req['id']}", headers=svc.headers(cast.manager_a))
    assert r.status_code == 200
    body = r.json()
    assert body["changes"] == [
        {"field": "email", "current": "rita@example.org", "requested": "rita.new@example.org"},
        {"field": "sms", "current": None, "requested": "+15555550123"},
    ]
    assert body["note"] == "<b>hi</b>"
    assert [(h["action"], h["by"]) for h in body["history"]] == [("submitted", str(cast.requester_a.id))]
    # current values are read from the directory at read time
    await svc.world.put_user(cast.requester_a, email="rita.other@example.org")
    r = await svc.client.get(f"{API}/{req['id']}", headers=svc.headers(cast.manager_a))
    assert r.json()["changes"][0]["current"] == "rita.other@example.org"


async def test_csv_export_has_the_scoped_tab_and_neutralises_formulas(svc, cast):
    w = svc.world
    evil = await w.user(cast.district, schools=["sch-a"], given="=HYPERLINK(\"http://x\")", family="@SUM(1)")
    await submit(svc, evil, {"changes": {"phone": "+15555550177"}, "note": "-2+3"})
    await submit(svc, cast.requester_b, {"note": "b"})
    r = await svc.client.get(f"{API}/export.csv", headers=svc.headers(cast.manager_a))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["requester"].startswith("'=HYPERLINK")
    assert row["note"] == "'-2+3"
    assert row["phone_requested"] == "'+15555550177"
    assert row["schools"] == "Alder Elementary"
    r = await svc.client.get(f"{API}/export.csv", params={"status": "done"}, headers=svc.headers(cast.manager_a))
    assert len(list(csv.DictReader(io.StringIO(r.text)))) == 0


async def test_the_list_and_its_export_take_the_queue_order_and_the_field_and_date_filters(svc, cast):
    """What the Manage Requests page filters by, the API and its CSV export filter by too."""
    email = await submit(svc, cast.requester_a, {"changes": {"email": "rita.new@example.org"}})
    note = await submit(svc, cast.requester_a, {"note": "only a note"})
    phone = await submit(svc, cast.requester_a, {"changes": {"phone": "+15555550123"}})
    manager = cast.manager_a
    assert await ids(svc, manager) == [phone["id"], note["id"], email["id"]]
    assert await ids(svc, manager, order="oldest") == [email["id"], note["id"], phone["id"]]
    assert await ids(svc, manager, field="email") == [email["id"]]
    assert await ids(svc, manager, field="note_only") == [note["id"]]
    assert await ids(svc, manager, submitted_from=note["submitted_at"], order="oldest") == [note["id"], phone["id"]]
    assert await ids(svc, manager, submitted_to=note["submitted_at"]) == [email["id"]]   # before, not at
    naive = note["submitted_at"].replace("+00:00", "").replace("Z", "")                  # UTC without an offset
    assert await ids(svc, manager, submitted_from=naive, order="oldest") == [note["id"], phone["id"]]

    r = await svc.client.get(f"{API}/export.csv", params={"field": "phone"}, headers=svc.headers(manager))
    assert [row["id"] for row in csv.DictReader(io.StringIO(r.text))] == [phone["id"]]

    for bad in ({"field": "shoe_size"}, {"order": "random"}, {"submitted_from": "yesterday"},
                {"submitted_from": phone["submitted_at"], "submitted_to": email["submitted_at"]}):
        r = await svc.client.get(API, params=bad, headers=svc.headers(manager))
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", (bad, r.text)
