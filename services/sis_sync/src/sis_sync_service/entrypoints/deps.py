"""Request dependencies: the runtime's database and this service's parts, and the caller."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pur_kit.auth import Principal, principal_dependency
from pur_kit.uow import Database

from ..adapters.repositories import Repositories
from ..bootstrap import Parts
from ..config import Settings

current_principal = principal_dependency(lambda request: request.app.state.runtime.settings.jwt_secret)
Caller = Annotated[Principal, Depends(current_principal)]


def database(request: Request) -> Database[Repositories]:
    return request.app.state.runtime.db


def parts(request: Request) -> Parts:
    return request.app.state.runtime.parts


def settings(request: Request) -> Settings:
    return request.app.state.runtime.settings
