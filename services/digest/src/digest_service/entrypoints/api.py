"""The JSON API under /api/v1/digests (docs/product-rules.md). Thin: authorize, delegate."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pur_kit.auth import Principal
from pur_kit.errors import validation_error
from pur_kit.params import DistrictIdQuery

from .. import views
from ..adapters import store
from ..adapters.db import Database
from ..domain.schedule import local_date_of
from ..service_layer.reports import RunReport
from ..service_layer.runner import DigestRunner
from .deps import current_principal, database, district_in_reach
from .schemas import DeliveryList, DigestRunCreate, DryRunResult, RunResult

router = APIRouter(prefix="/api/v1/digests", tags=["digests"])

Caller = Annotated[Principal, Depends(current_principal)]
Db = Annotated[Database, Depends(database)]
Status = Literal["claimed", "sent", "retrying", "failed_permanent", "unknown", "cancelled"]


def runner_of(request: Request) -> DigestRunner:
    return request.app.state.runtime.runner


@router.post("/run", response_model=RunResult | DryRunResult)
async def run_digests(body: DigestRunCreate, caller: Caller, db: Db,
                      runner: Annotated[DigestRunner, Depends(runner_of)]):
    """Send (or, with dry_run, preview) the digest now for a local date, once per person and day."""
    district_id = await district_in_reach(db, caller, body.district_id)
    if district_id is None:
        async with db.acquire() as conn:
            districts = [r["district_id"] for r in await conn.fetch(store.ALL_DISTRICTS)]
    else:
        districts = [district_id]
    if body.run_date is not None:
        for d in districts:
            await _refuse_future_date(runner, d, body.run_date)
    reports = [await runner.run(d, body.run_date, dry_run=body.dry_run) for d in districts]
    if body.dry_run:
        return JSONResponse({"emails": [email for r in reports for email in r.emails]})
    return JSONResponse(_totals(reports))


@router.get("", response_model=DeliveryList)
async def delivery_log(caller: Caller, db: Db, district_id: DistrictIdQuery = None,
                       date: Annotated[dt.date | None, Query(description="local date (YYYY-MM-DD)")] = None,
                       status: Status | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                       cursor: str | None = None):
    """Deliveries newest day first: who got which digest, and which are retrying, failed or unknown."""
    district_id = await district_in_reach(db, caller, district_id)
    after = views.Cursor.decode(cursor) if cursor else None
    async with db.acquire() as conn:
        items, following = await views.delivery_log(conn, district_id=district_id, local_date=date, status=status,
                                                    limit=limit, after=after)
    return JSONResponse({"items": items, "next_cursor": following.encode() if following else None})


async def _refuse_future_date(runner: DigestRunner, district_id: str, day: dt.date) -> None:
    district = await runner.load_district(district_id)
    zone = district.schedule.zone if district is not None and district.schedule is not None else dt.UTC
    if day > local_date_of(runner.clock(), zone):
        raise validation_error("date", "is in the future in the district's time zone")


def _totals(reports: list[RunReport]) -> dict:
    return {
        "sent": sum(r.sent for r in reports), "skipped": sum(r.skipped for r in reports),
        "retrying": sum(r.retrying for r in reports), "failed": sum(r.failed for r in reports),
        "runs": [r.summary() for r in reports],
    }
