"""The web pages: dev login, Directory (with the "+👥" menu); Manage Requests and My requests
are in `ui_manage` and `ui_mine`. Server-rendered, no JavaScript; every form posts with a
CSRF token and redirects."""
from __future__ import annotations

import asyncio
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from pur_kit.auth import SESSION_COOKIE, mint_token
from pur_kit.cursor import BadCursor
from pur_kit.logging import get_logger
from pur_kit.params import TextQuery
from pur_kit.web import cookie_principal

from .. import views
from ..adapters.peers import PeerUnavailable
from ..config import Settings
from ..domain.access import Viewer
from .deps import runtime_of
from .web import (
    LoginRequired,
    PageError,
    login_required_response,
    redirect,
    render,
    require_csrf,
    safe_next,
    session_principal,
)

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
# the filters reach SQL: no NUL (PostgreSQL refuses it) nor other control characters
Filter = TextQuery(255)


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired):
        return login_required_response(request)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError):
        return render(request, "error.html", exc.status, title=exc.title, message=exc.message,
                      user=await _signed_in_or_none(request))

    @app.exception_handler(PeerUnavailable)
    async def _peer_unavailable(request: Request, exc: PeerUnavailable):
        log.warning("peer_unavailable", peer=exc.peer, reason=exc.reason, path=request.url.path)
        response = render(request, "error.html", 503, title="Temporarily unavailable",
                          message="This page cannot be shown right now. Please try again in a minute.",
                          user=await _signed_in_or_none(request))
        response.headers["Retry-After"] = "30"
        return response


async def _signed_in_or_none(request: Request):
    """The signed-in person for an error page's header (its navigation); None when there is no
    valid session, or the directory cannot say right now (the error page must still render)."""
    principal = cookie_principal(request)
    if principal is None or principal.is_system:
        return None
    try:
        async with asyncio.timeout(1.0), runtime_of(request).db.acquire() as conn:
            person = await views.get_person(conn, principal.user_id)
    except Exception:  # noqa: BLE001 - a header without navigation beats no error page
        return None
    return person if person is not None and person["district_id"] == principal.district_id else None


async def me_of(request: Request, conn):
    """The signed-in person and their scope, from the directory projection."""
    principal = session_principal(request)
    person = await views.get_person(conn, principal.user_id)
    if person is None or person["district_id"] != principal.district_id:
        raise PageError(403, "Unknown user", "The directory does not know you (yet).")
    viewer = Viewer.of_user(user_id=person["id"], district_id=person["district_id"], active=person["active"],
                            manager_scope=person["manager_scope"], manager_school_ids=person["manager_school_ids"])
    return person, viewer


def managers_only(viewer: Viewer) -> None:
    if not viewer.is_manager:
        raise PageError(403, "Users Managers only",
                        "Only staff with the Users Manager permission can open this page.")


@router.get("/")
async def home(request: Request):
    async with runtime_of(request).db.acquire() as conn:
        _, viewer = await me_of(request, conn)
    return redirect("/directory" if viewer.is_manager else "/my-requests")


# --- development login -----------------------------------------------------------------------
def _dev_only(request: Request) -> None:
    if not runtime_of(request).settings.dev_login:
        raise PageError(404, "Not found", "There is no such page.")


@router.get("/login")
async def login_page(request: Request, q: Filter = None, district: Filter = None, next: str | None = None):
    _dev_only(request)
    async with runtime_of(request).db.acquire() as conn:
        if district is None:  # not chosen yet: the demo district, when it has people
            demo = runtime_of(request).settings.dev_login_district
            district = demo if await views.has_people(conn, demo) else ""
        people = await views.demo_identities(conn, q=q, district_id=district or None)
        known = await views.districts(conn)
    return render(request, "login.html", people=people, districts=known, q=q or "", district=district or "",
                  next=safe_next(next, ""), user=None)


@router.post("/login")
async def login(request: Request):
    _dev_only(request)
    form = await request.form()
    try:
        user_id = UUID(str(form.get("user_id", "")))
    except ValueError:
        raise PageError(422, "Pick someone", "Choose one of the listed identities.") from None
    async with runtime_of(request).db.acquire() as conn:
        person = await views.get_person(conn, user_id)
    if person is None or not person["active"]:
        raise PageError(422, "Pick someone", "Choose one of the listed identities.")
    settings: Settings = runtime_of(request).settings
    token = mint_token(settings.jwt_secret, sub=str(person["id"]), district_id=person["district_id"],
                       ttl_seconds=settings.session_ttl_seconds)
    home_page = "/directory" if person["manager_scope"] else "/my-requests"
    response = redirect(safe_next(str(form.get("next") or ""), home_page))
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_ttl_seconds, httponly=True,
                        samesite="lax", secure=settings.secure_cookies, path="/")
    return response


@router.post("/logout")
async def logout(request: Request):
    await require_csrf(request)
    response = redirect("/login" if runtime_of(request).settings.dev_login else "/", flash="logged_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- Directory ---------------------------------------------------------------------------------
@router.get("/directory")
async def directory(request: Request, q: Filter = None, school_id: Filter = None,
                    cursor: str | None = None):
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await me_of(request, conn)
        managers_only(viewer)
        try:
            people, following = await views.directory_page(conn, viewer, q=q, school_id=school_id, limit=PAGE_SIZE,
                                                           cursor=cursor)
        except BadCursor:
            raise PageError(422, "Bad page link", "This page link is not valid; start from the first page.") from None
        names = await views.school_names(conn, viewer.district_id)
    schools = schools_in_scope(viewer, names)
    next_url = None
    if following:
        next_url = "/directory?" + urlencode({k: v for k, v in {"q": q, "school_id": school_id,
                                                                 "cursor": following}.items() if v})
    return render(request, "directory.html", user=me, people=people, school_names=names, schools=schools,
                  q=q or "", school_id=school_id or "", next_url=next_url)


def schools_in_scope(viewer: Viewer, names: dict[str, str]) -> list[tuple[str, str]]:
    ids = names.keys() if viewer.scope == "district" else viewer.school_ids
    return sorted(((i, names.get(i, i)) for i in ids), key=lambda pair: pair[1].lower())



