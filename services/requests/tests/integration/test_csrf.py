"""The browser's session cookie cannot be used by another site's page to change anything through the
JSON API: a cross-origin form post carries the cookie, but not the `X-CSRF-Token` header."""
from __future__ import annotations

from pur_kit.auth import SESSION_COOKIE, csrf_token, mint_token
from pur_kit.config import DEV_JWT_SECRET

API = "/api/v1/requests"


def cookie_of(user) -> str:
    return mint_token(DEV_JWT_SECRET, sub=str(user.id), district_id=user.district_id)


async def test_a_cross_site_form_post_with_the_session_cookie_cannot_mark_a_request_done(svc, cast):
    r = await svc.client.post(API, json={"note": "please"}, headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    token = cookie_of(cast.manager_a)
    svc.client.cookies.set(SESSION_COOKIE, token)
    try:
        for content_type, body in (("application/x-www-form-urlencoded", "x=1"), ("text/plain", "x")):
            forged = await svc.client.post(f"{API}/{request_id}/mark-done", content=body,
                                           headers={"Content-Type": content_type, "Origin": "https://evil.example"})
            assert forged.status_code == 403, forged.text
            assert forged.json()["error"]["code"] == "csrf_failed"
        details = await svc.client.get(f"{API}/{request_id}")   # reading with the cookie is fine
        assert details.status_code == 200 and details.json()["status"] == "new"
        allowed = await svc.client.post(f"{API}/{request_id}/mark-done",
                                        headers={"X-CSRF-Token": csrf_token(DEV_JWT_SECRET, token)})
        assert allowed.status_code == 200 and allowed.json()["status"] == "done"
    finally:
        svc.client.cookies.clear()


async def test_a_cross_site_text_plain_post_with_the_session_cookie_cannot_submit_a_request(svc, cast):
    svc.client.cookies.set(SESSION_COOKIE, cookie_of(cast.requester_b))
    try:
        forged = await svc.client.post(API, content='{"note": "forged"}', headers={"Content-Type": "text/plain"})
        assert forged.status_code == 403, forged.text
        mine = await svc.client.get(f"{API}/mine")
        assert mine.status_code == 200 and mine.json()["items"] == []
    finally:
        svc.client.cookies.clear()
