"""Request dependencies: the database, the caller, and the read/change authorization of a district's settings."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pur_kit.auth import Principal, principal_dependency
from pur_kit.errors import forbidden, not_found
from pur_kit.params import DistrictIdPath
from pur_kit.uow import Database

from .. import views
from ..adapters.repository import Repositories
from ..domain.access import Caller, Decision, DirectoryRecord, may_change, may_read

DistrictId = DistrictIdPath

current_principal = principal_dependency(lambda request: request.app.state.runtime.settings.jwt_secret)


def database(request: Request) -> Database[Repositories]:
    return request.app.state.runtime.db


def caller_of(principal: Principal) -> Caller:
    return Caller(user_id=principal.user_id, district_id=principal.district_id, is_system=principal.is_system)


async def directory_record(request: Request, caller: Caller) -> DirectoryRecord | None:
    return await views.directory_record(database(request), caller.user_id)


READ_FORBIDDEN = "your directory account is not active"
CHANGE_FORBIDDEN = "only an active district administrator of this district may change its settings"


def enforce(decision: Decision, forbidden_message: str) -> None:
    if decision == "not_found":
        raise not_found("no such district settings")
    if decision == "forbidden":
        raise forbidden(forbidden_message)


async def settings_reader(request: Request, district_id: DistrictId,
                          principal: Annotated[Principal, Depends(current_principal)]) -> Caller:
    caller = caller_of(principal)
    enforce(may_read(caller, await directory_record(request, caller), district_id), READ_FORBIDDEN)
    return caller


async def settings_writer(request: Request, district_id: DistrictId,
                          principal: Annotated[Principal, Depends(current_principal)]) -> Caller:
    caller = caller_of(principal)
    enforce(may_change(caller, await directory_record(request, caller), district_id), CHANGE_FORBIDDEN)
    return caller
