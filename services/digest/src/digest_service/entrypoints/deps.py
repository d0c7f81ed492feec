"""Who is calling, and which districts they may run digests for (decided from our projection)."""
from __future__ import annotations

from fastapi import Request
from pur_kit.auth import Principal, principal_dependency
from pur_kit.errors import forbidden, not_found

from .. import views
from ..adapters.db import Database

current_principal = principal_dependency(lambda request: request.app.state.settings.jwt_secret)


def database(request: Request) -> Database:
    return request.app.state.runtime.db


async def district_in_reach(db: Database, caller: Principal, district_id: str | None) -> str | None:
    """The district the caller may act on (None: the operator asked for every district).

    A person acts on their own district only, and only as its district administrator; naming
    another district is a 404, so its existence does not leak.
    """
    async with db.acquire() as conn:
        if caller.is_system:
            if district_id is not None and not await views.district_exists(conn, district_id):
                raise not_found("no such district")
            return district_id
        if district_id is not None and district_id != caller.district_id:
            raise not_found("no such district")
        if await views.district_admin_of(conn, caller.user_id) != caller.district_id:
            raise forbidden("only a district administrator of this district can run or read its digests")
        return caller.district_id
