"""The JSON API under /api/v1/digests (docs/product-rules.md). Thin: parse, call the service
layer, shape the answer; the rules' refusals are answered as entrypoints/errors.py says."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pur_kit.params import DistrictIdQuery

from .. import views
from ..service_layer.digests import district_in_reach
from ..service_layer.reports import run_answer
from .deps import Caller, Runtime
from .schemas import DeliveryList, DigestRunCreate, DryRunResult, RunResult

router = APIRouter(prefix="/api/v1/digests", tags=["digests"])

Status = Literal["claimed", "sent", "retrying", "failed_permanent", "unknown", "cancelled"]


@router.post("/run", response_model=RunResult | DryRunResult)
async def run_digests(body: DigestRunCreate, caller: Caller, runtime: Runtime):
    """Send (or, with dry_run, preview) the digest now for a local date, once per person and day."""
    reports = await runtime.parts.digests.run(caller, body.district_id, body.run_date, dry_run=body.dry_run)
    return JSONResponse(run_answer(reports, body.dry_run))


@router.get("", response_model=DeliveryList)
async def delivery_log(caller: Caller, runtime: Runtime, district_id: DistrictIdQuery = None,
                       date: Annotated[dt.date | None, Query(description="local date (YYYY-MM-DD)")] = None,
                       status: Status | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                       cursor: str | None = None):
    """Deliveries newest day first: who got which digest, and which are retrying, failed or unknown."""
    async with runtime.db.unit_of_work() as uow:
        district_id = await district_in_reach(uow, caller, district_id)
    after = views.Cursor.decode(cursor) if cursor else None
    async with runtime.db.acquire() as conn:
        items, following = await views.delivery_log(conn, district_id=district_id, local_date=date, status=status,
                                                    limit=limit, after=after)
    return JSONResponse({"items": items, "next_cursor": following.encode() if following else None})
