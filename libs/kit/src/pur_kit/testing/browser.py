"""What the browser tests share: Debian's Chromium for Playwright, and an app behind real HTTP.

    need_chromium()                       # skip (fail under REQUIRE_SERVICES=1) when it is missing
    browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    async with served(app) as base_url:   # the app, already started, behind uvicorn on a free port
        ...
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from .helpers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def need(reason: str | None) -> None:
    """Skip the test for `reason` (None: nothing is missing); under REQUIRE_SERVICES=1, as in CI,
    fail instead, so a missing tool never passes for a green run."""
    if reason is None:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def need_chromium() -> None:
    need(None if Path(CHROMIUM).exists()
         else f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)")


@asynccontextmanager
async def served(app, port: int | None = None) -> AsyncIterator[str]:
    """`app` (its lifespan already run by the caller, or none needed) behind a real uvicorn on
    127.0.0.1; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                           access_log=False, loop="none"))
    server.install_signal_handlers = lambda: None   # the test process keeps its own signal handling
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
