"""The staff web app in a real Chromium: axe-core, phone width and keyboard checks over every page
state (ui_harness/states.py), against one requests service (real RabbitMQ and PostgreSQL, real
uvicorn) seeded once for the run, and, for the pages over the other services' APIs, the four
services as processes (started once, by the first state that needs them). Tables go to the test
output and to test-artifacts/ui/."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_asyncio
from pur_kit.testing.browser import CHROMIUM, CHROMIUM_ARGS, need_chromium

# pytest's importlib mode puts no test folder on sys.path; the checks share ui_harness.
sys.path.insert(0, str(Path(__file__).parent))

from ui_harness import report
from ui_harness.full_site import running_full_site
from ui_harness.site import running_site


@pytest_asyncio.fixture(scope="session")
async def site(database_factory, rabbitmq_url):
    async with running_site(database_factory, rabbitmq_url) as running:
        yield running


@pytest_asyncio.fixture(scope="session")
async def full_site(database_factory, rabbitmq_url, tmp_path_factory):
    async with running_full_site(database_factory, rabbitmq_url, tmp_path_factory.mktemp("full_site")) as running:
        yield running


@pytest.fixture
def state_site(request, state):
    """The running site the parametrized `state` needs; a sync fixture, so that the first state
    asking for `full_site` starts it during setup (not from inside the running test)."""
    return request.getfixturevalue(state.site)


@pytest_asyncio.fixture(scope="session")
async def browser():
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for table in report.write_all():
        terminalreporter.write_sep("=", f"UI: {table} (test-artifacts/ui/{table}.md)")
        terminalreporter.write(report.markdown(table))
