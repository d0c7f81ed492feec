"""Page plumbing: templates, the session cookie, CSRF, flash messages and error pages (`pur_kit.web`)."""
from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pur_kit.auth import Principal
from pur_kit.web import (
    Flash,
    PageError,
    checked_form,
    cookie_principal,
    csrf_for,
    page_templates,
    secure_page,
)

__all__ = ["PageError", "SignInRequired", "redirect", "render", "require_csrf", "session_principal"]

# Not `pur_flash`: cookies are scoped by host, not port, so the requests service's pages on the same
# host would see (and clear) ours.
FLASH = Flash("pur_settings_flash", {
    "saved": "Settings saved.",
    "unchanged": "Nothing to save: the settings already had these values.",
})

templates = page_templates(Path(__file__).resolve().parents[1] / "templates")


class SignInRequired(Exception):
    """No valid session cookie: the page answers 401 with a link to the sign-in page."""


def session_principal(request: Request) -> Principal:
    principal = cookie_principal(request)
    if principal is None:
        raise SignInRequired()
    return principal


async def require_csrf(request: Request) -> dict[str, str]:
    return await checked_form(request, "This form is no longer valid. Reload the page and try again.")


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    context.setdefault("flash", FLASH.message(request))
    context.setdefault("csrf", csrf_for(request))
    context.setdefault("requests_url", request.app.state.runtime.settings.public_requests_url.rstrip("/"))
    response = secure_page(templates.TemplateResponse(request, template, context, status_code=status))
    FLASH.consume(request, response)
    return response


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    FLASH.set(response, flash, secure=request.app.state.runtime.settings.secure_cookies)
    return response
