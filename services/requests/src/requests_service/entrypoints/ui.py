"""The web pages: dev login, Directory (with the "+👥" menu), Manage Requests, request details,
My requests. Server-rendered, no JavaScript; every form posts with a CSRF token and redirects."""
from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, FastAPI, Request
from pur_kit.auth import SESSION_COOKIE, mint_token
from pur_kit.cursor import BadCursor
from pur_kit.params import TextQuery

from .. import views
from ..config import Settings
from ..domain.access import Viewer
from ..domain.changes import FIELDS
from ..domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit
from ..domain.model import DistrictPolicy
from ..service_layer import actions, submission
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

router = APIRouter(include_in_schema=False)
TABS = {"new": "New", "done": "Marked as Done", "all": "All"}
PAGE_SIZE = 25
# the filters reach SQL: no NUL (PostgreSQL refuses it) nor other control characters
Filter = TextQuery(255)


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired):
        return login_required_response(request)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError):
        return render(request, "error.html", exc.status, title=exc.title, message=exc.message, user=None)


async def _me(request: Request, conn):
    """The signed-in person and their scope, from the directory projection."""
    principal = session_principal(request)
    person = await views.get_person(conn, principal.user_id)
    if person is None or person["district_id"] != principal.district_id:
        raise PageError(403, "Unknown user", "The directory does not know you (yet).")
    viewer = Viewer.of_user(user_id=person["id"], district_id=person["district_id"], active=person["active"],
                            manager_scope=person["manager_scope"], manager_school_ids=person["manager_school_ids"])
    return person, viewer


def _managers_only(viewer: Viewer) -> None:
    if not viewer.is_manager:
        raise PageError(403, "Users Managers only",
                        "Only staff with the Users Manager permission can open this page.")


@router.get("/")
async def home(request: Request):
    async with runtime_of(request).db.acquire() as conn:
        _, viewer = await _me(request, conn)
    return redirect("/directory" if viewer.is_manager else "/my-requests")


# --- development login -----------------------------------------------------------------------
def _dev_only(request: Request) -> None:
    if not runtime_of(request).settings.dev_login:
        raise PageError(404, "Not found", "There is no such page.")


@router.get("/login")
async def login_page(request: Request, q: Filter = None, district: Filter = None, next: str | None = None):
    _dev_only(request)
    async with runtime_of(request).db.acquire() as conn:
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
        me, viewer = await _me(request, conn)
        _managers_only(viewer)
        try:
            people, following = await views.directory_page(conn, viewer, q=q, school_id=school_id, limit=PAGE_SIZE,
                                                           cursor=cursor)
        except BadCursor:
            raise PageError(422, "Bad page link", "This page link is not valid; start from the first page.") from None
        names = await views.school_names(conn, viewer.district_id)
    schools = _schools_in_scope(viewer, names)
    next_url = None
    if following:
        next_url = "/directory?" + urlencode({k: v for k, v in {"q": q, "school_id": school_id,
                                                                 "cursor": following}.items() if v})
    return render(request, "directory.html", user=me, people=people, school_names=names, schools=schools,
                  q=q or "", school_id=school_id or "", next_url=next_url)


def _schools_in_scope(viewer: Viewer, names: dict[str, str]) -> list[tuple[str, str]]:
    ids = names.keys() if viewer.scope == "district" else viewer.school_ids
    return sorted(((i, names.get(i, i)) for i in ids), key=lambda pair: pair[1].lower())


# --- Manage Requests -----------------------------------------------------------------------------
@router.get("/manage-requests")
async def manage_requests(request: Request, tab: str = "new", school_id: Filter = None, q: Filter = None,
                          cursor: str | None = None):
    tab = tab if tab in TABS else "new"
    try:
        after = views.Cursor.decode(cursor) if cursor else None
    except BadCursor:
        raise PageError(422, "Bad page link", "This page link is not valid; start from the first page.") from None
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await _me(request, conn)
        _managers_only(viewer)
        query = views.scoped_query(viewer, status=tab, school_id=school_id, q=(q or "")[:100], limit=PAGE_SIZE,
                                   cursor=after)
        rows, following = await views.list_requests(conn, query)
        names = await views.school_names(conn, viewer.district_id)
    filters = {k: v for k, v in {"school_id": school_id, "q": q}.items() if v}
    here = "/manage-requests?" + urlencode({"tab": tab, **filters, **({"cursor": cursor} if cursor else {})})
    next_url = ("/manage-requests?" + urlencode({"tab": tab, **filters, "cursor": following.encode()})
                if following else None)
    export_url = "/api/v1/requests/export.csv?" + urlencode({"status": tab, **filters})
    return render(request, "manage_requests.html", user=me, tab=tab, tabs=TABS, rows=rows, school_names=names,
                  schools=_schools_in_scope(viewer, names), school_id=school_id or "", q=q or "",
                  filters=filters, here=here, next_url=next_url, export_url=export_url, first_page=cursor is None)


@router.get("/manage-requests/{request_id}")
async def request_details(request: Request, request_id: UUID):
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await _me(request, conn)
        _managers_only(viewer)
        row = await views.get_request(conn, request_id)
        if row is None or not viewer.can_see(row["district_id"], row["school_ids"]):
            raise PageError(404, "Request not found", "There is no such request, or it is not one you manage.")
        history = await views.get_history(conn, request_id)
        names = await views.school_names(conn, viewer.district_id, list(row["school_ids"]))
    return render(request, "request_details.html", user=me, r=row, history=history, school_names=names,
                  here=f"/manage-requests/{request_id}")


@router.post("/manage-requests/{request_id}/mark-done")
async def mark_done_form(request: Request, request_id: UUID):
    return await _act(request, request_id, actions.mark_done, "marked_done", "already_done")


@router.post("/manage-requests/{request_id}/restore")
async def restore_form(request: Request, request_id: UUID):
    return await _act(request, request_id, actions.restore, "restored", "already_new")


async def _act(request: Request, request_id: UUID, action, done_flash: str, noop_flash: str):
    form = await require_csrf(request)
    db = runtime_of(request).db
    async with db.acquire() as conn:
        _, viewer = await _me(request, conn)
    try:
        async with db.unit_of_work() as uow:
            changed = await action(uow, viewer, request_id)
    except actions.RequestNotFound:
        raise PageError(404, "Request not found", "There is no such request, or it is not one you manage.") from None
    return redirect(safe_next(form.get("next"), "/manage-requests"), flash=done_flash if changed else noop_flash)


# --- My requests ---------------------------------------------------------------------------------
async def _my_page(request: Request, conn, me, *, status: int = 200, error: str | None = None,
                   error_field: str | None = None, values: dict | None = None, cursor: str | None = None):
    policy_row = await views.district_policy(conn, me["district_id"])
    policy = DistrictPolicy(*policy_row) if policy_row else DistrictPolicy()
    try:
        after = views.Cursor.decode(cursor) if cursor else None
    except BadCursor:
        after = None
    rows, following = await views.list_mine(conn, me["id"], PAGE_SIZE, after)
    return render(request, "my_requests.html", status, user=me, rows=rows, disabled_reason=policy.refusal(),
                  error=error, error_field=error_field, values=values or {}, fields=FIELDS,
                  idempotency_key=uuid4().hex,
                  next_url=f"/my-requests?cursor={following.encode()}" if following else None)


@router.get("/my-requests")
async def my_requests(request: Request, cursor: str | None = None):
    async with runtime_of(request).db.acquire() as conn:
        me, _ = await _me(request, conn)
        return await _my_page(request, conn, me, cursor=cursor)


@router.post("/my-requests")
async def submit_form(request: Request):
    form = await require_csrf(request)
    runtime = runtime_of(request)
    db = runtime.db
    async with db.acquire() as conn:
        me, _ = await _me(request, conn)
    changes = {f: form[f] for f in FIELDS if form.get(f, "").strip()}
    note = form.get("note") or None
    key = (form.get("idempotency_key") or "")[:255] or None
    values = {k: form.get(k, "") for k in (*FIELDS, "note")}
    try:
        await runtime.parts.submissions.submit(user_id=me["id"], district_id=me["district_id"],
                                               changes=changes, note=note, idempotency_key=key)
    except InvalidChange as exc:
        async with db.acquire() as conn:
            return await _my_page(request, conn, me, status=422, error=exc.message, error_field=exc.field,
                                  values=values)
    except (FeatureDisabled, NotAllowedToSubmit, submission.IdempotencyKeyReused) as exc:
        async with db.acquire() as conn:
            return await _my_page(request, conn, me, status=403 if not isinstance(
                exc, submission.IdempotencyKeyReused) else 409, error=str(exc), values=values)
    return redirect("/my-requests", flash="submitted")
