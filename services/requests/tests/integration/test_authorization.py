"""The authorization matrix of services/requests/README.md, against the real service and database.

The request belongs to a requester of school A. "sees it" means the list/export contains it.
"""
from __future__ import annotations

import csv
import io

import pytest

API = "/api/v1/requests"

# caller: (list, details, mark-done, restore, export); list/export "200+" = 200 and contains it,
# "200-" = 200 without it.
MATRIX = {
    "requester":                ("403", "404", "404", "404", "403"),
    "staff without permission": ("403", "404", "404", "404", "403"),
    "district admin only":      ("403", "404", "404", "404", "403"),
    "school-A manager":         ("200+", "200", "200", "200", "200+"),
    "school-B manager":         ("200-", "404", "404", "404", "200-"),
    "district manager":         ("200+", "200", "200", "200", "200+"),
    "other district's manager": ("200-", "404", "404", "404", "200-"),
    "system":                   ("200+", "200", "200", "200", "200+"),
}


def _caller_headers(svc, cast, caller: str) -> dict:
    person = {
        "requester": cast.requester_a, "staff without permission": cast.staff, "district admin only": cast.admin,
        "school-A manager": cast.manager_a, "school-B manager": cast.manager_b,
        "district manager": cast.district_manager, "other district's manager": cast.other_manager,
    }.get(caller)
    return svc.system if person is None else svc.headers(person)


def _observed_listing(response, request_id: str, *, csv_body: bool = False) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    if csv_body:
        found = any(row["id"] == request_id for row in csv.DictReader(io.StringIO(response.text)))
    else:
        found = any(item["id"] == request_id for item in response.json()["items"])
    return "200+" if found else "200-"


async def test_authorization_matrix(svc, cast):
    r = await svc.client.post(API, json={"changes": {"email": "rita.x@example.org"}},
                              headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    district = {"district_id": cast.district}
    observed = {}
    for caller in MATRIX:
        h = _caller_headers(svc, cast, caller)
        params = district if caller == "system" else {}
        listing = await svc.client.get(API, params={"status": "all", **params}, headers=h)
        details = await svc.client.get(f"{API}/{request_id}", headers=h)
        done = await svc.client.post(f"{API}/{request_id}/mark-done", headers=h)
        restored = await svc.client.post(f"{API}/{request_id}/restore", headers=h)
        export = await svc.client.get(f"{API}/export.csv", params={"status": "all", **params}, headers=h)
        observed[caller] = (_observed_listing(listing, request_id), str(details.status_code),
                            str(done.status_code), str(restored.status_code),
                            _observed_listing(export, request_id, csv_body=True))
        for response in (listing, details, done, restored, export):
            if response.status_code in (403, 404):
                assert response.json()["error"]["code"] == {403: "forbidden", 404: "not_found"}[response.status_code]
    assert observed == MATRIX


@pytest.mark.parametrize("path", ["", "/export.csv"])
async def test_an_unknown_caller_or_an_inactive_manager_sees_nothing(svc, cast, path):
    w = svc.world
    former = await w.user(cast.district, schools=["sch-a"], manager="district", active=False)
    stranger = former.model_copy(update={"id": former.id.__class__(int=former.id.int ^ 1)})
    for person in (former, stranger):
        r = await svc.client.get(f"{API}{path}", headers=svc.headers(person))
        assert r.status_code == 403


async def test_out_of_scope_details_look_exactly_like_missing_ones(svc, cast):
    r = await svc.client.post(API, json={"note": "x"}, headers=svc.headers(cast.requester_a))
    hidden = await svc.client.get(f"{API}/{r.json()['id']}", headers=svc.headers(cast.manager_b))
    missing = await svc.client.get(f"{API}/00000000-0000-4000-8000-000000000000", headers=svc.headers(cast.manager_b))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
