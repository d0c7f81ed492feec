"""The ASGI application: `uvicorn requests_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pur_kit.http import create_app as create_kit_app
from pur_kit.http import install_domain_errors

from ..bootstrap import bootstrap
from ..config import Settings
from . import api, ui, ui_account, ui_manage, ui_mine, ui_settings
from .errors import DOMAIN_ERRORS

DESCRIPTION = """Profile update requests: people ask for corrections of their directory details;
Users Managers work through them (Manage Requests) and Mark as Done / Restore them."""

STATIC = Path(__file__).resolve().parents[1] / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = bootstrap(settings)
    app = create_kit_app(runtime, title="requests", description=DESCRIPTION,
                         routers=[api.router, ui.router, ui_manage.router, ui_mine.router, ui_account.router,
                                  ui_settings.router],
                         direct=[("POST", "/api/v1/requests")])  # the submission route: see DirectRoutes
    ui.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_domain_errors(app, DOMAIN_ERRORS)
    return app
