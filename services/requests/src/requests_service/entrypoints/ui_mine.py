"""My requests: a requester's own requests and the form that submits one."""
from __future__ import annotations

from uuid import uuid4

from fastapi import APIRouter, Request
from pur_kit.cursor import BadCursor

from .. import views
from ..domain.changes import FIELDS
from ..domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit
from ..domain.model import DistrictPolicy
from ..service_layer import submission
from .deps import runtime_of
from .ui import PAGE_SIZE, me_of
from .web import redirect, render, require_csrf

router = APIRouter(include_in_schema=False)


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
        me, _ = await me_of(request, conn)
        return await _my_page(request, conn, me, cursor=cursor)


@router.post("/my-requests")
async def submit_form(request: Request):
    form = await require_csrf(request)
    runtime = runtime_of(request)
    db = runtime.db
    async with db.acquire() as conn:
        me, _ = await me_of(request, conn)
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
