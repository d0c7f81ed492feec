"""The ASGI application: `uvicorn sis_sync_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from fastapi import FastAPI
from pur_kit.http import create_app as create_kit_app
from pur_kit.http import install_domain_errors

from ..bootstrap import bootstrap
from ..config import Settings
from .api import router
from .errors import DOMAIN_ERRORS

UPLOAD_ROUTE = r"^/api/v1/districts/[^/]+/sis-imports/?$"
DESCRIPTION = """The directory (districts, schools, users, permissions) and the OneRoster roster import.
Roster uploads may be up to SIS_SYNC_MAX_BODY_BYTES (200 MB by default); every other body is limited to 64 KiB."""


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = bootstrap(settings)
    settings = runtime.settings
    app = create_kit_app(runtime, title="sis_sync", routers=[router], description=DESCRIPTION,
                         max_body_bytes=settings.json_body_limit_bytes,
                         larger_bodies=[("POST", UPLOAD_ROUTE, settings.max_body_bytes)])
    install_domain_errors(app, DOMAIN_ERRORS)
    return app
