"""The JSON API under /api/v1/requests (docs/product-rules.md). Thin: translate, delegate."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from pur_kit.auth import Principal
from pur_kit.errors import forbidden, not_found, validation_error
from pur_kit.params import DistrictIdQuery, TextQuery
from pur_kit.uow import Database

from .. import views
from ..adapters.csv_export import csv_chunk
from ..domain.changes import FIELDS
from ..service_layer import actions
from .deps import current_principal, database, runtime_of, viewer_of
from .schemas import RequestCreate, RequestDetails, RequestList, RequestPublic

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

Caller = Annotated[Principal, Depends(current_principal)]
Db = Annotated[Database, Depends(database)]
Status = Annotated[Literal["new", "done", "all"], Query(description="the tab: new, done (Marked as Done) or all")]
Limit = Annotated[int, Query(ge=1, le=200)]
SchoolId = TextQuery(255, "only requests of this school (within the caller's scope)")
Search = TextQuery(100, "part of the requester's name")
Order = Annotated[Literal["newest", "oldest"],
                  Query(description="newest first, or oldest first (Manage Requests' work order)")]
FieldFilter = Annotated[Literal[(*FIELDS, views.NOTE_ONLY)] | None,
                        Query(description="only requests asking for this field, or `note_only`")]
Since = Annotated[datetime | None, Query(description="submitted at or after this instant (ISO 8601; UTC "
                                                     "when it has no offset)")]
Until = Annotated[datetime | None, Query(description="submitted before this instant (ISO 8601; UTC when "
                                                     "it has no offset)")]
EXPORT_PAGE = 1000


@dataclass(frozen=True)
class ListFilters:
    """What narrows a list besides its tab, scope and page: the same for the list and its export."""

    school_id: SchoolId = None
    q: Search = None
    order: Order = "newest"
    field: FieldFilter = None
    submitted_from: Since = None
    submitted_to: Until = None

    def instants(self) -> tuple[datetime | None, datetime | None]:
        start, end = (None if t is None else t if t.tzinfo else t.replace(tzinfo=UTC)
                      for t in (self.submitted_from, self.submitted_to))
        if start is not None and end is not None and start > end:
            raise validation_error("submitted_to", "must not be before submitted_from")
        return start, end


Filters = Annotated[ListFilters, Depends()]

# Each route documents its refusals; the kit adds 401, 404 on path ids, 422 and 503 (pur_kit.openapi).
NOT_A_MANAGER = {403: {"description": "Not a Users Manager (or not an active one)"}}
UNKNOWN_REQUEST = {404: {"description": "No such request, or one the caller may not see or manage"}}
SUBMIT_ERRORS = {
    401: {"description": "Missing, expired or forged token"},
    403: {"description": "The feature is off in the district, the caller may not submit, or the system "
                         "credential (a person submits)"},
    409: {"description": "The Idempotency-Key was used before with another body"},
    422: {"description": "An invalid change or note, or Idempotency-Key; `field` names it"},
}

_SUBMIT_DOC = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": RequestCreate.model_json_schema()}}},
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "retries with the same key return the first request (200)"}],
}


@router.post("", status_code=201, response_model=RequestPublic, openapi_extra=_SUBMIT_DOC,
             responses={200: {"model": RequestPublic, "description": "an earlier submission with this Idempotency-Key"},
                        **SUBMIT_ERRORS})
async def submit_request(request: Request):
    """Submit a profile update request as the caller (Idempotency-Key makes retries safe)."""
    # The busiest route parses its own inputs: FastAPI's parameter machinery cost more CPU per
    # request than the domain rules (bench/bench_requests.py). Same checks, same 401/422 answers.
    caller = await current_principal(request)
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise validation_error("Idempotency-Key", "between 1 and 255 characters")
    try:
        body = RequestCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False,
                                                                   include_context=False)]) from None
    if caller.is_system:
        raise forbidden("the system credential cannot submit requests: a person does")
    runtime = runtime_of(request)
    result = await runtime.parts.submissions.submit(
        user_id=caller.user_id, district_id=caller.district_id, changes=body.changes, note=body.note,
        idempotency_key=key)
    if result.created:
        return JSONResponse(views.new_request_public(result.request, result.current), status_code=201)
    async with runtime.db.acquire() as conn:
        row = await views.get_request(conn, result.request_id)
    return JSONResponse(views.request_public(row), status_code=200)


@router.get("", response_model=RequestList, responses=NOT_A_MANAGER)
async def list_requests(caller: Caller, db: Db, filters: Filters, status: Status = "new", limit: Limit = 50,
                        cursor: str | None = None, district_id: DistrictIdQuery = None):
    """Requests the caller may see (newest first unless `order=oldest`), one keyset page at a time."""
    after = views.Cursor.decode(cursor) if cursor is not None else None
    async with db.acquire() as conn:
        query = await _list_query(conn, caller, status, filters, limit, after, district_id)
        if query is None:
            return JSONResponse({"items": [], "next_cursor": None})
        rows, following = await views.list_requests(conn, query)
    return JSONResponse({"items": [views.request_public(r) for r in rows],
                         "next_cursor": following.encode() if following else None})


@router.get("/mine", response_model=RequestList,
            responses={403: {"description": "The system credential, which has no requests of its own"}})
async def my_requests(caller: Caller, db: Db, limit: Limit = 50, cursor: str | None = None):
    """The caller's own requests and their status, newest first."""
    if caller.is_system:
        raise forbidden("the system credential has no requests of its own")
    after = views.Cursor.decode(cursor) if cursor is not None else None
    async with db.acquire() as conn:
        rows, following = await views.list_mine(conn, caller.user_id, limit, after)
    return JSONResponse({"items": [views.request_public(r) for r in rows],
                         "next_cursor": following.encode() if following else None})


@router.get("/export.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "the tab as CSV"}, **NOT_A_MANAGER})
async def export_csv(caller: Caller, db: Db, filters: Filters, status: Status = "new",
                     district_id: DistrictIdQuery = None):
    """The current tab (same scope, filters and order as the list) as a CSV file."""
    # The first page is read before the answer starts: once the status line is sent, a failure
    # can only cut the file short, so whatever fails early must fail with its own status.
    async with db.acquire() as conn:
        query = await _list_query(conn, caller, status, filters, EXPORT_PAGE, None, district_id)
        names = await views.school_names(conn, query.district_id) if query else {}
        rows, following = await views.list_requests(conn, query) if query else ([], None)

    async def stream():
        yield csv_chunk(rows, names, header=True)
        after = following
        if after is None:
            return
        async with db.acquire() as conn:
            while after is not None:
                more, after = await views.list_requests(conn, replace(query, cursor=after))
                yield csv_chunk(more, names)

    return StreamingResponse(stream(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="requests-{status}.csv"', "Cache-Control": "no-store"})


@router.get("/{request_id}", response_model=RequestDetails, responses=UNKNOWN_REQUEST)
async def get_request(request_id: UUID, caller: Caller, db: Db):
    """One request: each field's current and requested value, the note, the history."""
    async with db.acquire() as conn:
        viewer = await viewer_of(conn, caller)
        row = await views.get_request(conn, request_id) if viewer.can_list else None
        if row is None or not viewer.can_see(row["district_id"], row["school_ids"]):
            raise not_found("no such request")
        history = await views.get_history(conn, request_id)
    return JSONResponse({**views.request_public(row), "history": views.history_public(history)})


@router.post("/{request_id}/mark-done", response_model=RequestDetails, responses=UNKNOWN_REQUEST)
async def mark_done(request_id: UUID, caller: Caller, db: Db):
    """Mark as Done (idempotent; the requester is not notified)."""
    return await _act(db, caller, request_id, actions.mark_done)


@router.post("/{request_id}/restore", response_model=RequestDetails, responses=UNKNOWN_REQUEST)
async def restore(request_id: UUID, caller: Caller, db: Db):
    """Restore Request: back to New (idempotent; the requester is not notified)."""
    return await _act(db, caller, request_id, actions.restore)


async def _act(db: Database, caller: Principal, request_id: UUID, action) -> JSONResponse:
    async with db.acquire() as conn:
        viewer = await viewer_of(conn, caller)
    async with db.unit_of_work() as uow:
        await action(uow, viewer, request_id)
    async with db.acquire() as conn:
        row = await views.get_request(conn, request_id)
        history = await views.get_history(conn, request_id)
    return JSONResponse({**views.request_public(row), "history": views.history_public(history)})


async def _list_query(conn, caller: Principal, status: str, filters: ListFilters, limit: int,
                      cursor: views.Cursor | None, district_id: str | None) -> views.ListQuery | None:
    start, end = filters.instants()
    viewer = await viewer_of(conn, caller)
    if viewer.scope == "system" and district_id is None:
        raise validation_error("district_id", "required with the system credential")
    return views.scoped_query(viewer, status=status, school_id=filters.school_id, q=filters.q, limit=limit,
                              cursor=cursor, district_id=district_id, order=filters.order, field=filters.field,
                              submitted_from=start, submitted_to=end)
