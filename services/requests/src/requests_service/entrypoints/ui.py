"""The staff and requester web pages (server-rendered). Filled in by the web UI step."""
from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ..config import Settings

router = APIRouter(include_in_schema=False)


def install(app: FastAPI, settings: Settings) -> None:
    pass
