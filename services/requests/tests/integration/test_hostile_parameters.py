"""Malformed query values found by fuzzing (tests/integration/test_openapi_fuzz.py): each was a 500;
each is a 422 naming the parameter, on the API and on the pages."""
from __future__ import annotations

import base64
import contextlib
import json

import httpx
from pur_kit.auth import SESSION_COOKIE

API = "/api/v1/requests"


def field_of(r: httpx.Response) -> str:
    assert r.status_code == 422, (r.status_code, r.text)
    return r.json()["error"]["field"]


async def test_an_empty_district_id_from_the_system_credential_is_a_422_naming_it(svc, cast):
    for path in (API, f"{API}/export.csv"):
        r = await svc.client.get(path, params={"district_id": ""}, headers=svc.system)
        assert field_of(r) == "district_id", path


async def test_a_malformed_district_id_is_a_422_naming_it_for_any_caller(svc, cast):
    for bad in (".exe", "a\x00b", "bell\x07", "x" * 65, "spring field"):
        for headers in (svc.system, svc.headers(cast.district_manager)):
            for path in (API, f"{API}/export.csv"):
                r = await svc.client.get(path, params={"district_id": bad}, headers=headers)
                assert field_of(r) == "district_id", (path, bad)


async def test_a_nul_in_a_text_filter_is_a_422_naming_the_filter(svc, cast):
    for name in ("q", "school_id"):
        for path in (API, f"{API}/export.csv"):
            r = await svc.client.get(path, params={name: "a\x00b"}, headers=svc.headers(cast.district_manager))
            assert field_of(r) == name, (path, name)
    r = await svc.client.get(API, params={"school_id": "", "q": ""}, headers=svc.headers(cast.district_manager))
    assert r.status_code == 200, r.text   # an empty filter is no filter


@contextlib.asynccontextmanager
async def signed_in(svc, person):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as client:
        r = await client.post("/login", data={"user_id": str(person.id)})
        client.cookies.set(SESSION_COOKIE, r.cookies[SESSION_COOKIE])
        yield client


async def test_the_pages_refuse_a_nul_in_their_filters_and_cursors(svc, cast):
    forged_cursor = base64.urlsafe_b64encode(json.dumps(["Fam\x00", "Ada", "00000000-0000-0000-0000-000000000000"]).encode())
    async with signed_in(svc, cast.district_manager) as browser:
        for page, params in (("/directory", {"q": "a\x00"}), ("/directory", {"school_id": "a\x00"}),
                             ("/manage-requests", {"q": "a\x00"}), ("/manage-requests", {"school_id": "a\x00"}),
                             ("/login", {"district": "a\x00"})):
            r = await browser.get(page, params=params)
            assert r.status_code == 422, (page, params, r.status_code)
        r = await browser.get("/directory", params={"cursor": forged_cursor.decode().rstrip("=")})
        assert r.status_code == 422 and "page link is not valid" in r.text
