"""Who is calling, shared by the API and the pages."""
from __future__ import annotations

from fastapi import Request
from pur_kit.auth import Principal, principal_dependency

from ..adapters.db import Database
from ..domain.access import Viewer
from .. import views

current_principal = principal_dependency(lambda request: request.app.state.settings.jwt_secret)


def database(request: Request) -> Database:
    return request.app.state.db


async def viewer_of(conn, principal: Principal) -> Viewer:
    if principal.is_system:
        return Viewer.system()
    viewer, _ = await views.load_viewer(conn, principal.user_id, principal.district_id)
    return viewer
