"""What the routes get from the request: the caller, and the runtime's parts."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pur_kit.auth import Principal, principal_dependency
from pur_kit.runtime import ServiceRuntime

from ..bootstrap import Parts

current_principal = principal_dependency(lambda request: request.app.state.runtime.settings.jwt_secret)


def runtime_of(request: Request) -> ServiceRuntime[Parts]:
    return request.app.state.runtime


Caller = Annotated[Principal, Depends(current_principal)]
Runtime = Annotated[ServiceRuntime[Parts], Depends(runtime_of)]
