"""Manage Requests: the list with its tabs and filters, a request's details, Mark as Done and
Restore (for Users Managers, within their scope)."""
from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from pur_kit.cursor import BadCursor

from .. import views
from ..service_layer import actions
from .deps import runtime_of
from .ui import PAGE_SIZE, Filter, managers_only, me_of, schools_in_scope
from .web import PageError, redirect, render, require_csrf, safe_next

router = APIRouter(include_in_schema=False)
TABS = {"new": "New", "done": "Marked as Done", "all": "All"}


@router.get("/manage-requests")
async def manage_requests(request: Request, tab: str = "new", school_id: Filter = None, q: Filter = None,
                          cursor: str | None = None):
    tab = tab if tab in TABS else "new"
    try:
        after = views.Cursor.decode(cursor) if cursor else None
    except BadCursor:
        raise PageError(422, "Bad page link", "This page link is not valid; start from the first page.") from None
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await me_of(request, conn)
        managers_only(viewer)
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
                  schools=schools_in_scope(viewer, names), school_id=school_id or "", q=q or "",
                  filters=filters, here=here, next_url=next_url, export_url=export_url, first_page=cursor is None)


@router.get("/manage-requests/{request_id}")
async def request_details(request: Request, request_id: UUID):
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await me_of(request, conn)
        managers_only(viewer)
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
        _, viewer = await me_of(request, conn)
    try:
        async with db.unit_of_work() as uow:
            changed = await action(uow, viewer, request_id)
    except actions.RequestNotFound:
        raise PageError(404, "Request not found", "There is no such request, or it is not one you manage.") from None
    return redirect(safe_next(form.get("next"), "/manage-requests"), flash=done_flash if changed else noop_flash)


