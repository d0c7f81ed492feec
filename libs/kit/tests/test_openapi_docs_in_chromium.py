"""Every service's /docs renders in a real Chromium that may reach 127.0.0.1 only.

Each app is built by its production factory and served by a real uvicorn without its lifespan:
the pages and /openapi.json need no broker or database. Every request to another host is aborted
and recorded, and the page's Content-Security-Policy violations are collected, so a viewer that
still needed a CDN, or an inline script, fails here.
"""
from __future__ import annotations

import importlib
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from pur_kit.testing.browser import CHROMIUM, CHROMIUM_ARGS, need_chromium, served

pytestmark = pytest.mark.browser

# One operation of each service, as Swagger UI shows it (method and path).
OPERATIONS = {
    "requests": ("POST", "/api/v1/requests/{request_id}/mark-done"),
    "settings": ("PATCH", "/api/v1/districts/{district_id}/settings"),
    "digest": ("POST", "/api/v1/digests/run"),
    "sis_sync": ("PUT", "/api/v1/directory/users/{user_id}/permissions"),
}
COLLECT_CSP_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


@asynccontextmanager
async def serving(service: str):
    app = importlib.import_module(f"{service}_service.entrypoints.app").create_app()
    async with served(app) as base_url:
        yield base_url


@asynccontextmanager
async def offline_page():
    """A Chromium page whose requests to any host but 127.0.0.1 are aborted (and listed in `.outside`)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.outside = []

            async def only_local(route):
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    await route.continue_()
                else:
                    page.outside.append(route.request.url)
                    await route.abort()

            await page.route("**/*", only_local)
            await page.add_init_script(COLLECT_CSP_VIOLATIONS)
            page.errors = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            yield page
        finally:
            await browser.close()


@pytest.mark.parametrize("service", sorted(OPERATIONS))
async def test_swagger_ui_lists_the_operations_of_every_service_without_network(service):
    need_chromium()
    from playwright.async_api import expect

    method, path = OPERATIONS[service]
    async with serving(service) as base, offline_page() as page:
        response = await page.goto(f"{base}/docs")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        operation = page.locator(".opblock", has=page.locator(".opblock-summary-method", has_text=method)).filter(
            has=page.locator(f".opblock-summary-path[data-path='{path}']"))
        await expect(operation).to_be_visible()
        await expect(page.locator(".btn.authorize")).to_be_visible()  # the bearer scheme
        await operation.locator(".opblock-summary-control").click()
        await expect(operation.locator(".responses-table")).to_contain_text("Missing, expired or forged")
        assert await page.evaluate("window.__csp") == []
        assert page.outside == [] and page.errors == []
