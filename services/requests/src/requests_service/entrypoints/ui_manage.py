"""Manage Requests: the queue with its tabs (and their counts), filters, order and pages; a
request's details; Mark as Done and Restore, one request or a page's selection (for Users
Managers, within their scope). Works without JavaScript; one small static script only makes
"select all on this page" tick the rows."""
from __future__ import annotations

import re
from datetime import date, tzinfo
from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pur_kit.cursor import BadCursor
from pur_kit.web import time_zone

from .. import views
from ..domain.changes import FIELDS, LABELS
from ..service_layer import actions
from .deps import runtime_of
from .ui import PAGE_SIZE, Filter, managers_only, me_of, schools_in_scope
from .web import DEFAULT_TIMEZONE, PageError, redirect, render, require_csrf, safe_next

router = APIRouter(include_in_schema=False)
TABS = {"new": "New", "done": "Marked as Done", "all": "All"}
ORDERS = {"oldest": "Oldest first", "newest": "Newest first"}  # the first is the default: the queue
PER_PAGE = (PAGE_SIZE, 50, 100)
BULK_MAX = max(PER_PAGE)  # a bulk action covers at most one page, the largest there is
FIELD_CHOICES = {**{f: LABELS[f] for f in FIELDS}, views.NOTE_ONLY: "Note only"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
Raw = Annotated[str | None, Query()]  # checked here, so that a bad value gets this page, not JSON


@router.get("/manage-requests")
async def manage_requests(request: Request, tab: str = "new", order: str = "oldest", per: Raw = None,
                          school_id: Filter = None, q: Filter = None,
                          from_: Annotated[str | None, Query(alias="from")] = None, to: Raw = None,
                          field: Raw = None, cursor: Raw = None, before: Raw = None):
    tab = tab if tab in TABS else "new"
    order = order if order in ORDERS else "oldest"
    size = next((n for n in PER_PAGE if per == str(n)), PAGE_SIZE)
    values = {"from": (from_ or "")[:40], "to": (to or "")[:40], "field": (field or "")[:40]}
    filters = {k: v for k, v in {"school_id": school_id, "q": q, **values}.items() if v}
    state = {"tab": tab, "order": order if order != "oldest" else "", "per": str(size) if size != PAGE_SIZE else "",
             **filters}
    try:
        position = views.Cursor.decode(cursor or before) if (cursor or before) else None
    except BadCursor:
        raise PageError(422, "Bad page link", "This page link is not valid; start from the first page.") from None
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await me_of(request, conn)
        managers_only(viewer)
        # the dates are the district's days: the instants they span come from its time zone
        errors, start, end = _check_filters(values, time_zone(me["timezone"] or DEFAULT_TIMEZONE))
        export = {"status": tab, "order": order, "school_id": school_id, "q": q, "field": values["field"],
                  "submitted_from": start.isoformat() if start else None,
                  "submitted_to": end.isoformat() if end else None}
        context = {"tab": tab, "tabs": TABS, "order": order, "orders": ORDERS, "per": size, "per_page": PER_PAGE,
                   "fields": FIELD_CHOICES, "school_id": school_id or "", "q": q or "", "values": values,
                   "errors": errors, "filters": filters,
                   "tab_urls": {key: _url({**state, "tab": key}) for key in TABS},
                   "clear_url": _url({k: state[k] for k in ("tab", "order", "per")}),
                   "export_url": "/api/v1/requests/export.csv?" + urlencode({k: v for k, v in export.items() if v})}
        names = await views.school_names(conn, viewer.district_id)
        context.update(user=me, school_names=names, schools=schools_in_scope(viewer, names))
        if errors:
            return render(request, "manage_requests.html", 422, rows=[], counts=None, return_to=_url(state),
                          **context)
        query = views.scoped_query(viewer, status=tab, school_id=school_id, q=(q or "")[:100], limit=size,
                                   cursor=position, before=bool(before and not cursor), order=order,
                                   submitted_from=start, submitted_to=end, field=values["field"] or None)
        # the page and its counts from one snapshot, so "26–50 of 312" adds up
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            page = await views.page_of(conn, query)
            first = views.Cursor(page.rows[0]["submitted_at"], page.rows[0]["id"]) if page.previous else None
            counts = await views.count_tabs(conn, query, first)
    here = _url(state, **({"cursor": cursor} if cursor else {"before": before} if before else {}))
    response = render(
        request, "manage_requests.html", rows=page.rows, counts=counts, return_to=here,
        first_page=page.previous is None, first_url=_url(state) if page.previous else None,
        prev_url=_url(state, before=page.previous.encode()) if page.previous else None,
        next_url=_url(state, cursor=page.following.encode()) if page.following else None,
        **({"flash": message} if (message := BULK_FLASH.message(request)) else {}), **context)
    BULK_FLASH.consume(request, response)
    return response


def _url(state: dict[str, str], **more: str) -> str:
    return "/manage-requests?" + urlencode({k: v for k, v in {**state, **more}.items() if v})


def _check_filters(values: dict[str, str], tz: tzinfo):
    """The error of each bad filter (by parameter name), and the submitted-date range as instants
    (each date a day in `tz`, the district's zone)."""
    errors: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        dates[name] = None
        if values[name]:
            try:
                if not _DATE.fullmatch(values[name]):
                    raise ValueError(name)
                dates[name] = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = "Enter a date as YYYY-MM-DD, for example 2026-03-01."
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        errors["to"] = "The end date must be on or after the start date."
    if values["field"] and values["field"] not in FIELD_CHOICES:
        errors["field"] = "Choose one of the listed fields."
    start, end = views.submitted_range(dates["from"], dates["to"], tz)
    return errors, start, end


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
                  return_to=f"/manage-requests/{request_id}")


@router.post("/manage-requests/bulk")
async def bulk_form(request: Request):
    """Mark as Done / Restore the requests selected on a page (or all of the page) at once."""
    form = await require_csrf(request)
    posted = await request.form()
    target = safe_next(form.get("next"), "/manage-requests")
    action = form.get("action")
    chosen = posted.getlist("id") + (posted.getlist("page_id") if form.get("all_on_page") else [])
    raw = list(dict.fromkeys(v for v in chosen if isinstance(v, str)))
    # Only a hand-made post gets these wrong (the page sends at most a page of its own ids): it
    # goes back to the list, told that nothing was changed.
    if action not in BULK_ACTIONS or len(raw) > BULK_MAX:
        return BULK_FLASH.refusal(target, "too_many" if action in BULK_ACTIONS else "no_action")
    try:
        ids = [UUID(v) for v in raw]
    except ValueError:
        return BULK_FLASH.refusal(target, "bad_selection")
    db = runtime_of(request).db
    async with db.acquire() as conn:
        _, viewer = await me_of(request, conn)
        managers_only(viewer)
    result = actions.BulkResult(0, 0, 0)
    if ids:
        async with db.unit_of_work() as uow:
            result = await BULK_ACTIONS[action](uow, viewer, ids)
    response = redirect(target)
    BULK_FLASH.set(response, action, result)
    return response


BULK_ACTIONS = {"mark_done": actions.mark_done_many, "restore": actions.restore_many}


# what a refused bulk post is told (the cookie carries the key)
_REFUSALS = {
    "too_many": f"Select at most {BULK_MAX} requests at a time. Nothing was changed.",
    "no_action": "Choose “Mark selected as Done” or “Restore selected”. Nothing was changed.",
    "bad_selection": "The selection was not valid: reload the page and select again. Nothing was changed.",
}


class BulkFlash:
    """The one-shot message after a bulk action ("12 requests marked as done. 2 were already done.").

    Like the kit's `Flash`, the cookie carries no text: only the action and three counts, parsed
    strictly, from which the sentence is built here; nothing from a URL is echoed.
    """

    cookie = "pur_bulk"
    _VALUE = re.compile(r"(mark_done|restore)\.(\d{1,4})\.(\d{1,4})\.(\d{1,4})")
    def refusal(self, target: str, reason: str) -> Response:
        response = redirect(target)
        response.set_cookie(self.cookie, reason, max_age=60, httponly=True, samesite="lax", path="/")
        return response

    def set(self, response: Response, action: str, result: actions.BulkResult) -> None:
        response.set_cookie(self.cookie, f"{action}.{result.changed}.{result.unchanged}.{result.not_found}",
                            max_age=60, httponly=True, samesite="lax", path="/")

    def message(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookie) or ""
        if value in _REFUSALS:
            return _REFUSALS[value]
        found = self._VALUE.fullmatch(value)
        if found is None:
            return None
        action, changed, unchanged, missing = found[1], *(int(n) for n in found.groups()[1:])
        if changed + unchanged + missing == 0:
            return "No requests were selected."
        done = action == "mark_done"
        parts = [f"{_n(changed, 'request')} {'marked as done' if done else 'restored'}."]
        if unchanged:
            parts.append(f"{_were(unchanged)} already {'done' if done else 'New'}.")
        if missing:
            parts.append(f"{_were(missing)} not found or not in your scope.")
        return " ".join(parts)

    def consume(self, request: Request, response: Response) -> None:
        if request.cookies.get(self.cookie):
            response.delete_cookie(self.cookie, path="/")


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _were(count: int) -> str:
    return f"{count:,} {'was' if count == 1 else 'were'}"


BULK_FLASH = BulkFlash()


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
