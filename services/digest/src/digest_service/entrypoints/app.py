"""The ASGI application: `uvicorn digest_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from fastapi import FastAPI
from pur_kit.http import create_app as create_kit_app
from pur_kit.http import install_domain_errors

from ..bootstrap import Clock, bootstrap, system_clock
from ..config import Settings
from . import api, subscription
from .errors import DOMAIN_ERRORS

DESCRIPTION = """The daily digest email for Users Managers: each district's digest goes out at its
local send time, at most once per person and local day; runs can be forced or previewed here. Each
manager can unsubscribe from theirs (one click in the email, RFC 8058) and subscribe again."""


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    app = create_kit_app(bootstrap(settings, clock), title="digest", description=DESCRIPTION, routers=[api.router, subscription.router])
    install_domain_errors(app, DOMAIN_ERRORS)
    return app
