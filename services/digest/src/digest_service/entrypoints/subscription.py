"""A Users Manager's own digest subscription, under /api/v1/digest.

The contract (for the staff app's "/notifications" page and for mail clients):

- `GET /api/v1/digest/subscription` → 200
  `{"subscribed": bool, "changed_at": ISO datetime | null, "via": "email_link" | "api" | null,
    "users_manager": bool, "district_digest_on": bool}`
  for the caller. `changed_at`/`via`: when and how they unsubscribed (null while subscribed).
  `users_manager`: they are an active Users Manager (otherwise no digest reaches them anyway);
  `district_digest_on`: their district sends digests (feature and District Settings preference).
- `PUT /api/v1/digest/subscription` `{"subscribed": true|false}` → 200, the same shape. Idempotent;
  `true` removes an opt-out however it was made, `false` records one (the first stays).
  Both need a person: `Authorization: Bearer <token>`, or the session cookie (plus the
  `X-CSRF-Token` header on PUT, as the kit requires). No credential: 401; the system credential:
  403 `forbidden`; another body: 422 `validation_error`.
- `POST /api/v1/digest/unsubscribe?token=...` (RFC 8058 one-click, the `List-Unsubscribe` URL of
  every digest): opts the token's manager out → 200 `{"subscribed": false}` (an HTML confirmation
  when a browser's form posted it). The body is what mail clients send,
  `List-Unsubscribe=One-Click` (form-urlencoded or multipart), or empty: it is not read, the token
  alone decides, and no cookie is used (so no CSRF). A forged, tampered or other-purpose token:
  400 `invalid_token`.
- `GET /api/v1/digest/unsubscribe?token=...`: changes nothing (RFC 8058 §3.2: link scanners and
  previews follow links); a page with one button that POSTs the same URL, no script.

No event is published: the opt-out is the digest's own; the runner skips an opted-out manager
with the reason `unsubscribed`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pur_kit.web import page_templates, secure_page

from ..domain.errors import InvalidUnsubscribeLink
from ..domain.subscription import Subscription
from .deps import Caller, Runtime
from .schemas import DigestSubscriptionPublic, DigestSubscriptionUpdate, UnsubscribeResult

router = APIRouter(prefix="/api/v1/digest", tags=["digest subscription"])
PAGES = page_templates(Path(__file__).resolve().parents[1] / "templates")
# The token is in this page's URL: a link followed from it must not carry it in a Referer.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}
Token = Annotated[str, Query(min_length=1, max_length=2048, description="the token of the email's link")]


def _public(s: Subscription) -> dict:
    return {"subscribed": s.subscribed, "changed_at": s.changed_at.isoformat() if s.changed_at else None,
            "via": s.via, "users_manager": s.users_manager, "district_digest_on": s.district_digest_on}


PERSON_ONLY = {403: {"description": "the system credential (a subscription is a person's), or the session "
                                     "cookie without its X-CSRF-Token on PUT"}}
BAD_LINK = {400: {"description": "`invalid_token`: a forged, tampered or other-purpose token"}}


@router.get("/subscription", response_model=DigestSubscriptionPublic, responses={**PERSON_ONLY})
async def my_subscription(caller: Caller, runtime: Runtime):
    """Whether the caller gets the daily digest (their own opt-out), and whether one can reach them."""
    return JSONResponse(_public(await runtime.parts.subscriptions.status(caller)))


@router.put("/subscription", response_model=DigestSubscriptionPublic, responses={**PERSON_ONLY})
async def change_my_subscription(body: DigestSubscriptionUpdate, caller: Caller, runtime: Runtime):
    """Turn the caller's own daily digest on or off (idempotent)."""
    return JSONResponse(_public(await runtime.parts.subscriptions.change(caller, body.subscribed)))


@router.post("/unsubscribe", response_model=UnsubscribeResult, responses={
    200: {"content": {"text/html": {}}, "description": "unsubscribed (a page when a browser's form posted it)"},
    **BAD_LINK})
async def one_click_unsubscribe(request: Request, token: Token, runtime: Runtime):
    """RFC 8058 one-click unsubscribe: the token of the email's link opts its manager out."""
    await runtime.parts.subscriptions.unsubscribe_by_link(token)
    if _wants_html(request):   # the button of the page below, in a browser
        return _page(request, "unsubscribed", runtime)
    return JSONResponse({"subscribed": False})


@router.get("/unsubscribe", response_class=Response, responses={
    200: {"content": {"text/html": {}}, "description": "a page with one button that POSTs the link"},
    400: {"description": "a page saying the link is not valid"}})
async def unsubscribe_page(request: Request, token: Token, runtime: Runtime):
    """A page with a button that unsubscribes (a GET changes nothing: scanners follow links)."""
    try:
        runtime.parts.subscriptions.check_link(token)
    except InvalidUnsubscribeLink:
        return _page(request, "invalid", runtime, status_code=400)
    return _page(request, "confirm", runtime, action="?" + urlencode({"token": token}))


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _page(request: Request, state: str, runtime: Runtime, *, status_code: int = 200, action: str = "") -> Response:
    notifications = f"{runtime.settings.public_base_url.rstrip('/')}/notifications"
    response = PAGES.TemplateResponse(request, "unsubscribe.html", {
        "state": state, "action": action, "notifications_url": notifications}, status_code=status_code)
    response.headers.update(NO_REFERRER)
    return secure_page(response)
