"""The District Settings page moved to the staff app (one origin, one session, one navigation:
docs/architecture.md, "One staff app"). Its old address here answers with a permanent redirect, so
bookmarks and old emails still land on the page."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from .deps import DistrictId

router = APIRouter(include_in_schema=False)


@router.get("/districts/{district_id}/settings")
async def settings_page_moved(request: Request, district_id: DistrictId) -> RedirectResponse:
    base = request.app.state.runtime.settings.public_requests_url.rstrip("/")
    return RedirectResponse(f"{base}/district-settings", status_code=308)
