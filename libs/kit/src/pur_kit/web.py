"""What the server-rendered pages of every service share: the session cookie, CSRF on posted forms,
flash messages carried by a key, the security headers of every page, safe `next` targets.

The secret is `request.app.state.runtime.settings.jwt_secret`, as for the API's bearer tokens.
"""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from .auth import SESSION_COOKIE, Principal, csrf_token, csrf_valid, decode_token
from .errors import ApiError

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'",
}


class PageError(Exception):
    """An error page: `status`, a `title` and a `message` for people."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@lru_cache(maxsize=64)
def time_zone(name: str | None) -> tzinfo:
    """The IANA zone `name`; UTC for None or a name this machine does not know."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@pass_context
def when(context: Context, value: object) -> str:
    """A datetime as people read it: `YYYY-MM-DD HH:MM` and the zone's abbreviation, in the page's
    `timezone` (the district's, an IANA name; UTC when the page has none). APIs keep ISO UTC."""
    if not isinstance(value, datetime):
        return ""
    local = value.astimezone(time_zone(context.get("timezone")))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def page_templates(directory: Path) -> Jinja2Templates:
    """Autoescaped templates with the `when` filter (local time, see `when`)."""
    env = Environment(loader=FileSystemLoader(directory), autoescape=select_autoescape(default=True,
                      default_for_string=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    return Jinja2Templates(env=env)


def _secret(request: Request) -> str:
    return request.app.state.runtime.settings.jwt_secret


def cookie_principal(request: Request) -> Principal | None:
    """The session cookie's principal; None when there is no cookie or it is invalid or expired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return decode_token(token, _secret(request))
    except ApiError:
        return None


def csrf_for(request: Request) -> str:
    """The token a form of this session posts back; empty without a session."""
    session = request.cookies.get(SESSION_COOKIE)
    return csrf_token(_secret(request), session) if session else ""


async def checked_form(request: Request, expired_message: str) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session cookie; else a 403 page."""
    form = await request.form()
    if not csrf_valid(_secret(request), request.cookies.get(SESSION_COOKIE), form.get("csrf")):
        raise PageError(403, "Form expired", expired_message)
    return {key: value for key, value in form.items() if isinstance(value, str)}


def secure_page(response: Response) -> Response:
    """Never cached (pages show personal data), never framed, nothing loaded or posted elsewhere."""
    response.headers.update(PAGE_HEADERS)
    return response


class Flash:
    """A one-shot message after a redirect. The cookie carries a key of `messages`, never text, so
    nothing a third party puts in a URL is echoed back; each service names its own cookie, since
    cookies are scoped by host, not port."""

    def __init__(self, cookie: str, messages: dict[str, str]) -> None:
        self.cookie, self.messages = cookie, messages

    def message(self, request: Request) -> str | None:
        return self.messages.get(request.cookies.get(self.cookie) or "")

    def consume(self, request: Request, response: Response) -> None:
        if request.cookies.get(self.cookie):
            response.delete_cookie(self.cookie, path="/")

    def set(self, response: Response, key: str | None, secure: bool = False) -> None:
        if key:
            response.set_cookie(self.cookie, key, max_age=60, httponly=True, samesite="lax", path="/",
                                secure=secure)


def safe_next(url: str | None, default: str) -> str:
    """Only our own pages: a `next` pointing elsewhere would make us an open redirect."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default
