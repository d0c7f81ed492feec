"""The ASGI application: `uvicorn settings_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from fastapi import FastAPI
from pur_kit.http import create_app as create_kit_app
from pur_kit.http import install_domain_errors

from ..bootstrap import bootstrap
from ..config import Settings
from . import api, moved
from .errors import DOMAIN_ERRORS

DESCRIPTION = """District Settings: whether users may send Profile Update Requests (off by default),
the daily digest preferences of the Users Managers, and whether the SIS owns contact details."""


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = bootstrap(settings)
    app = create_kit_app(runtime, title="settings", description=DESCRIPTION, routers=[api.router, moved.router])
    install_domain_errors(app, DOMAIN_ERRORS)
    return app
