"""What the API and the pages share: this process's runtime, and who is calling."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import Request
from pur_kit.auth import Principal, decode_token, token_from_request
from pur_kit.errors import unauthorized
from pur_kit.runtime import ServiceRuntime
from pur_kit.uow import Database

from .. import views
from ..domain.access import Viewer

if TYPE_CHECKING:
    from ..bootstrap import Parts

_VERIFIED_MAX = 10_000
_VERIFIED_TTL = 60.0


class VerifiedTokens:
    """Remembers tokens whose signature was already checked, until they expire (at most a minute).

    Checking an HS256 signature with PyJWT costs more CPU than anything else on the submission
    path except the database calls; a client sends the same token many times. Only an exact token
    string that passed `decode_token` is remembered, with its expiry, so nothing weaker is accepted.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, float]] = {}

    def principal(self, token: str, secret: str) -> Principal:
        now = time.time()
        hit = self._entries.get(token)
        if hit is not None and now < hit[1]:
            return hit[0]
        principal = decode_token(token, secret)  # raises 401 when forged or expired
        if len(self._entries) >= _VERIFIED_MAX:
            self._entries.clear()
        self._entries[token] = (principal, min(principal.expires_at, now + _VERIFIED_TTL))
        return principal


def runtime_of(request: Request) -> ServiceRuntime[Parts]:
    """The kit's runtime of this process (settings, database) and this service's parts."""
    return request.app.state.runtime


async def current_principal(request: Request) -> Principal:
    runtime = runtime_of(request)
    secret = runtime.settings.jwt_secret
    token = token_from_request(request, secret)
    if not token:
        raise unauthorized("missing bearer token")
    return runtime.parts.verified_tokens.principal(token, secret)


async def database(request: Request) -> Database:
    return runtime_of(request).db


async def viewer_of(conn, principal: Principal) -> Viewer:
    if principal.is_system:
        return Viewer.system()
    viewer, _ = await views.load_viewer(conn, principal.user_id, principal.district_id)
    return viewer
