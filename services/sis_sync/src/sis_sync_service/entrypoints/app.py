"""The ASGI application: `uvicorn sis_sync_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pur_kit.errors import error_body
from pur_kit.http import create_app as create_kit_app
from starlette.middleware import Middleware

from ..bootstrap import bootstrap
from ..config import Settings
from ..domain.errors import DomainError
from .api import router
from .body_limits import JsonBodyLimitMiddleware

DESCRIPTION = """The directory (districts, schools, users, permissions) and the OneRoster roster import.
Roster uploads may be up to SIS_SYNC_MAX_BODY_BYTES (200 MB by default); every other body is limited to 64 KiB."""


def create_app(settings: Settings | None = None) -> FastAPI:
    container = bootstrap(settings)
    app = create_kit_app(container.runtime, title="sis_sync", routers=[router], description=DESCRIPTION)
    app.state.container = container
    # Innermost, so the kit's middleware (correlation id, metrics, access log) still wraps it.
    app.user_middleware.append(Middleware(JsonBodyLimitMiddleware, limit=container.settings.json_body_limit_bytes))

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError):
        return JSONResponse(error_body(exc.code, exc.message, **exc.extra), status_code=exc.status)

    return app
