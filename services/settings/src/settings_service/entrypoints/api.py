"""`GET` and `PATCH /api/v1/districts/{district_id}/settings` (docs/product-rules.md)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pur_kit.errors import error_body

from .. import views
from ..domain.access import Caller
from ..service_layer.events import snapshot
from ..service_layer.settings import update_settings
from .deps import DistrictId, database, settings_reader, settings_writer
from .preconditions import etag, expected_versions
from .schemas import DistrictSettingsPublic, DistrictSettingsUpdate

router = APIRouter(prefix="/api/v1", tags=["district settings"])


def _error(description: str, code: str) -> dict:
    return {"description": description, "content": {"application/json": {"example": error_body(code, "...")}}}


ERRORS = {401: _error("Missing, expired or forged token", "unauthorized"),
          404: _error("Another district's person, or a district no roster was imported for", "not_found")}


@router.get("/districts/{district_id}/settings", response_model=DistrictSettingsPublic,
            responses={**ERRORS, 403: _error("The caller's directory account is not active", "forbidden")})
async def read_settings(request: Request, response: Response, district_id: DistrictId,
                        _: Annotated[Caller, Depends(settings_reader)]):
    """A district's settings (the defaults at version 0 when never configured); ETag = version."""
    settings = await views.district_settings(database(request), district_id)
    response.headers["ETag"] = etag(settings.version)
    return snapshot(settings).model_dump(mode="json")


@router.patch(
    "/districts/{district_id}/settings", response_model=DistrictSettingsPublic,
    responses={**ERRORS, 403: _error("Not a district administrator of this district", "forbidden"),
               412: _error("If-Match names a version that is no longer current", "precondition_failed"),
               422: _error("A bad value; `field` names it, e.g. notifications.timezone", "validation_error")},
)
async def change_settings(
    request: Request, response: Response, district_id: DistrictId, body: DistrictSettingsUpdate,
    caller: Annotated[Caller, Depends(settings_writer)],
    if_match: Annotated[str | None, Header(description='The version you edited: "3", 3 or W/"3"')] = None,
):
    """JSON merge of the given fields (district admin or system); a change bumps the version."""
    async with database(request).unit_of_work() as uow:
        settings, _ = await update_settings(uow, district_id, body.changes(), by=caller.name,
                                            expected_versions=expected_versions(if_match))
    response.headers["ETag"] = etag(settings.version)
    return snapshot(settings).model_dump(mode="json")
