"""The ASGI application: `uvicorn settings_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pur_kit.errors import error_body
from pur_kit.http import create_app as create_kit_app

from ..bootstrap import build_runtime
from ..config import Settings
from . import api, ui

DESCRIPTION = """District Settings: whether users may send Profile Update Requests (off by default),
the daily digest preferences of the Users Managers, and whether the SIS owns contact details."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime, handlers = build_runtime(settings)
    app = create_kit_app(runtime, title="settings", description=DESCRIPTION, routers=[api.router, ui.router])
    app.state.settings = settings
    app.state.handlers = handlers
    ui.install(app)
    _name_the_body_on_invalid_json(app)
    return app


def _name_the_body_on_invalid_json(app: FastAPI) -> None:
    """The kit names the field from the error location, which for malformed JSON is a character
    offset; say `body` instead."""
    kit_handler = app.exception_handlers[RequestValidationError]

    async def handler(request: Request, exc: RequestValidationError):
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return JSONResponse(error_body("validation_error", "body: not valid JSON", field="body"),
                                status_code=422)
        return await kit_handler(request, exc)

    app.add_exception_handler(RequestValidationError, handler)
