"""Page plumbing: templates, the session cookie, CSRF, flash messages, login-required answers
(`pur_kit.web`)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pur_contracts.events import NotificationSettings
from pur_kit.auth import SESSION_COOKIE, Principal
from pur_kit.web import (
    Flash,
    PageError,
    checked_form,
    cookie_principal,
    csrf_for,
    page_templates,
    safe_next,
    secure_page,
)

from ..domain.changes import LABELS
from . import i18n
from .deps import runtime_of

__all__ = ["LoginRequired", "PageError", "csrf_for", "login_required_response", "redirect", "render",
           "require_csrf", "safe_next", "session_principal", "session_token"]

FLASH = Flash("pur_flash", {
    "marked_done": "Request marked as done.",
    "restored": "Request restored.",
    "already_done": "This request was already marked as done.",
    "already_new": "This request is already New.",
    "submitted": "Your request was sent.",
    "logged_out": "You are logged out.",
    "settings_saved": "Settings saved.",
    "settings_unchanged": "Nothing to save: the settings already had these values.",
    "contact_saved": "Your contact details were saved.",
    "contact_unchanged": "Nothing to save: your contact details already had these values.",
    "notifications_on": "You will get the daily digest email again.",
    "notifications_off": "You will no longer get the daily digest email.",
})

DEFAULT_TIMEZONE = NotificationSettings().timezone
templates = page_templates(Path(__file__).resolve().parents[1] / "templates")
i18n.install(templates.env)
# one way to show a time on every page: the page's language and the district's zone
templates.env.filters["when"] = i18n.when_local
templates.env.globals["field_label"] = lambda name: LABELS.get(name, name)


class LoginRequired(Exception):
    """A page needs a session: redirect to the dev login, or answer 401."""


def session_token(request: Request) -> str:
    """The session cookie's token, which the pages pass on to the other services' APIs."""
    session_principal(request)
    return request.cookies[SESSION_COOKIE]


def session_principal(request: Request) -> Principal:
    principal = cookie_principal(request)
    if principal is None:
        raise LoginRequired()
    if principal.is_system:
        raise PageError(403, "Not for the system credential", "These pages are for people: log in as one.")
    return principal


async def require_csrf(request: Request) -> dict:
    return await checked_form(request, "This form is no longer valid. Go back, reload the page and retry.")


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    user = context.get("user")
    # times on pages are in the district's time zone (the `when` filter); the contract's default
    # until the district's settings are known here
    context.setdefault("timezone", (user.get("timezone") if user else None) or DEFAULT_TIMEZONE)
    context.setdefault("flash", FLASH.message(request))
    context.setdefault("csrf", csrf_for(request))
    context.setdefault("dev_login", runtime_of(request).settings.dev_login)
    response = i18n.localized(request, template, context, lambda: secure_page(
        templates.TemplateResponse(request, template, context, status_code=status)))
    FLASH.consume(request, response)
    return response


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    FLASH.set(response, flash)
    return response


def login_required_response(request: Request) -> Response:
    if runtime_of(request).settings.dev_login:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return render(request, "error.html", 401, title="Please sign in",
                  message="You need to be signed in to see this page.", user=None)
