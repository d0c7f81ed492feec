"""Page plumbing: templates, the session cookie, CSRF, flash messages and error pages."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pur_kit.auth import SESSION_COOKIE, Principal, csrf_token, csrf_valid, decode_token
from pur_kit.errors import ApiError

# Not `pur_flash`: cookies are scoped by host, not port, so the requests service's pages on the same
# host would see (and clear) ours. The cookie carries a key, never text.
FLASH_COOKIE = "pur_settings_flash"
FLASH_MESSAGES = {
    "saved": "Settings saved.",
    "unchanged": "Nothing to save: the settings already had these values.",
}

_env = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                   lstrip_blocks=True)
_env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else ""
templates = Jinja2Templates(env=_env)


class SignInRequired(Exception):
    """No valid session cookie: the page answers 401 with a link to the sign-in page."""


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def session_principal(request: Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    try:
        return decode_token(token, request.app.state.settings.jwt_secret)
    except ApiError:
        raise SignInRequired() from None


async def require_csrf(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session cookie."""
    form = await request.form()
    if not csrf_valid(request.app.state.settings.jwt_secret, request.cookies.get(SESSION_COOKIE), form.get("csrf")):
        raise PageError(403, "Form expired", "This form is no longer valid. Reload the page and try again.")
    return {key: value for key, value in form.items() if isinstance(value, str)}


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    flash_key = request.cookies.get(FLASH_COOKIE)
    session = request.cookies.get(SESSION_COOKIE)
    context.setdefault("flash", FLASH_MESSAGES.get(flash_key or ""))
    context.setdefault("csrf", csrf_token(request.app.state.settings.jwt_secret, session) if session else "")
    context.setdefault("requests_url", request.app.state.settings.public_requests_url.rstrip("/"))
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'unsafe-inline'; form-action 'self'"
    if flash_key:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, flash, max_age=60, httponly=True, samesite="lax", path="/",
                            secure=request.app.state.settings.secure_cookies)
    return response
