"""The ASGI application: `uvicorn requests_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pur_kit.errors import error_body
from pur_kit.http import create_app as create_kit_app

from ..bootstrap import build_runtime
from ..config import Settings
from ..domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit, NotAManager
from ..service_layer.actions import RequestNotFound
from ..service_layer.submission import IdempotencyKeyReused, SubmissionWriter
from . import api, ui
from .deps import VerifiedTokens

DESCRIPTION = """Profile update requests: people ask for corrections of their directory details;
Users Managers work through them (Manage Requests) and Mark as Done / Restore them."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = build_runtime(settings)
    app = create_kit_app(runtime, title="requests", description=DESCRIPTION, routers=[api.router, ui.router],
                          direct=[("POST", "/api/v1/requests")])  # the submission route: see DirectRoutes
    app.state.settings = settings
    app.state.db = runtime.db
    app.state.submissions = SubmissionWriter(runtime.db, settings.submission_group_max)
    app.state.verified_tokens = VerifiedTokens()
    ui.install(app, settings)
    _install_domain_errors(app)
    return app


def _install_domain_errors(app: FastAPI) -> None:
    def answer(status: int, code: str, message: str, **extra) -> JSONResponse:
        return JSONResponse(error_body(code, message, **extra), status_code=status)

    @app.exception_handler(InvalidChange)
    async def _invalid(_: Request, exc: InvalidChange):
        return answer(422, "validation_error", f"{exc.field}: {exc.message}", field=exc.field)

    @app.exception_handler(FeatureDisabled)
    async def _disabled(_: Request, exc: FeatureDisabled):
        return answer(403, "feature_disabled", str(exc))

    @app.exception_handler(NotAllowedToSubmit)
    async def _not_allowed(_: Request, exc: NotAllowedToSubmit):
        return answer(403, "forbidden", str(exc))

    @app.exception_handler(NotAManager)
    async def _not_a_manager(_: Request, exc: NotAManager):
        return answer(403, "forbidden", str(exc))

    @app.exception_handler(RequestNotFound)
    async def _not_found(_: Request, exc: RequestNotFound):
        return answer(404, "not_found", "no such request")

    @app.exception_handler(IdempotencyKeyReused)
    async def _reused(_: Request, exc: IdempotencyKeyReused):
        return answer(409, "conflict", str(exc))
