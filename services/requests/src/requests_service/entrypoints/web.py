"""Page plumbing: templates, the session cookie, CSRF, flash messages, login-required answers."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pur_kit.auth import SESSION_COOKIE, Principal, csrf_token, csrf_valid, decode_token
from pur_kit.errors import ApiError

from ..domain.changes import LABELS

FLASH_COOKIE = "pur_flash"
# Flash cookies carry a key, never text: nothing a third party puts in a URL is echoed back.
FLASH_MESSAGES = {
    "marked_done": "Request marked as done.",
    "restored": "Request restored.",
    "already_done": "This request was already marked as done.",
    "already_new": "This request is already New.",
    "submitted": "Your request was sent.",
    "logged_out": "You are logged out.",
}

_env = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                   lstrip_blocks=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


_env.filters["when"] = _when
_env.globals["field_label"] = lambda name: LABELS.get(name, name)
templates = Jinja2Templates(env=_env)


class LoginRequired(Exception):
    """A page needs a session: redirect to the dev login, or answer 401."""


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def session_principal(request: Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired()
    try:
        principal = decode_token(token, request.app.state.settings.jwt_secret)
    except ApiError:
        raise LoginRequired() from None
    if principal.is_system:
        raise PageError(403, "Not for the system credential", "These pages are for people: log in as one.")
    return principal


def csrf_for(request: Request) -> str:
    return csrf_token(request.app.state.settings.jwt_secret, request.cookies.get(SESSION_COOKIE, ""))


async def require_csrf(request: Request) -> dict:
    """The posted form, once its CSRF token matches the session cookie."""
    form = await request.form()
    if not csrf_valid(request.app.state.settings.jwt_secret, request.cookies.get(SESSION_COOKIE),
                      form.get("csrf")):
        raise PageError(403, "Form expired", "This form is no longer valid. Go back, reload the page and retry.")
    return {k: v for k, v in form.items() if isinstance(v, str)}


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    flash_key = request.cookies.get(FLASH_COOKIE)
    context.setdefault("flash", FLASH_MESSAGES.get(flash_key or ""))
    context.setdefault("csrf", csrf_for(request) if request.cookies.get(SESSION_COOKIE) else "")
    context.setdefault("dev_login", request.app.state.settings.dev_login)
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'unsafe-inline'; form-action 'self'"
    if flash_key:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, flash, max_age=60, httponly=True, samesite="lax", path="/")
    return response


def safe_next(url: str | None, default: str) -> str:
    """Only our own pages: a `next` pointing elsewhere would make us an open redirect."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default


def login_required_response(request: Request) -> Response:
    if request.app.state.settings.dev_login:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return render(request, "error.html", 401, title="Please sign in",
                  message="You need to be signed in to see this page.", user=None)
