"""The ASGI application: `uvicorn digest_service.entrypoints.app:create_app --factory`."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from pur_kit.http import create_app as create_kit_app

from ..bootstrap import build_runtime, system_clock
from ..config import Settings
from . import api

DESCRIPTION = """The daily digest email for Users Managers: each district's digest goes out at its
local send time, at most once per person and local day; runs can be forced or previewed here."""


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] = system_clock) -> FastAPI:
    settings = settings or Settings()
    runtime = build_runtime(settings, clock)
    app = create_kit_app(runtime, title="digest", description=DESCRIPTION, routers=[api.router])
    app.state.settings = settings
    return app
