"""The District Settings page: a server-rendered form (no JavaScript) posting with a CSRF token.

It goes through the same validation, authorization and concurrency rules as the API; the form
carries the version it shows, used as the precondition of the save.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, FastAPI, Request
from pydantic import ValidationError
from pur_contracts import DISTRICT_ID_PATTERN

from .. import views
from ..domain.access import Caller, may_change, may_read
from ..domain.model import DistrictSettings, UnknownDistrict
from ..domain.rules import known_timezones
from ..service_layer.settings import VersionMismatch, update_settings
from .deps import caller_of, database, directory_record
from .preconditions import expected_versions
from .schemas import DistrictSettingsUpdate, field_errors
from .web import PageError, SignInRequired, redirect, render, require_csrf, session_principal

router = APIRouter(include_in_schema=False)
PAGE = "/districts/{district_id}/settings"
CHECKBOXES = ("profile_update_requests_enabled", "daily_digest_enabled", "contact_details_auto_update")


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired):
        return render(request, "sign_in.html", 401, title="Please sign in")

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError):
        return render(request, "error.html", exc.status, title=exc.title, message=exc.message)


@contextmanager
def _known_district() -> Iterator[None]:
    """A page of its own for UnknownDistrict: the app's handler answers the API in JSON."""
    try:
        yield
    except UnknownDistrict:
        raise PageError(404, "Not found", "There is no such district yet: its roster must be imported first.") from None


async def _visitor(request: Request, district_id: str) -> tuple[Caller, bool]:
    """Who is looking, and whether they may change the settings (else the page is read-only)."""
    caller = caller_of(session_principal(request))
    if not re.fullmatch(DISTRICT_ID_PATTERN, district_id):
        raise PageError(404, "Not found", "There is no such district.")
    record = await directory_record(request, caller)
    decision = may_read(caller, record, district_id)
    if decision == "not_found":
        raise PageError(404, "Not found", "There are no settings of this district for you.")
    if decision == "forbidden":
        raise PageError(403, "Not allowed", "Your directory account is not active.")
    return caller, may_change(caller, record, district_id) == "allowed"


def _form_of(s: DistrictSettings) -> dict:
    return {
        "profile_update_requests_enabled": s.profile_update_requests_enabled,
        "daily_digest_enabled": s.notifications.daily_digest_enabled,
        "digest_local_time": s.notifications.digest_local_time,
        "timezone": s.notifications.timezone,
        "contact_details_auto_update": s.sis_sync.contact_details_auto_update,
    }


def _changes_of(form: dict) -> tuple[dict, dict]:
    """The posted form as a full settings change, and its values to show again."""
    shown = {name: name in form for name in CHECKBOXES}
    shown |= {"digest_local_time": form.get("digest_local_time", "").strip(),
              "timezone": form.get("timezone", "").strip()}
    changes = {
        "profile_update_requests_enabled": shown["profile_update_requests_enabled"],
        "notifications": {"daily_digest_enabled": shown["daily_digest_enabled"],
                          "digest_local_time": shown["digest_local_time"], "timezone": shown["timezone"]},
        "sis_sync": {"contact_details_auto_update": shown["contact_details_auto_update"]},
    }
    return changes, shown


def _page(request: Request, settings: DistrictSettings, caller: Caller, can_edit: bool, *, status: int = 200,
          form: dict | None = None, errors: dict | None = None, conflict: bool = False, version: str | None = None):
    return render(request, "settings.html", status, title="District Settings", s=settings,
                  version=settings.version if version is None else version,
                  form=form or _form_of(settings), errors=errors or {}, conflict=conflict, can_edit=can_edit,
                  caller=caller, timezones=sorted(known_timezones()),
                  action=PAGE.format(district_id=settings.district_id))


@router.get(PAGE)
async def settings_page(request: Request, district_id: str):
    caller, can_edit = await _visitor(request, district_id)
    with _known_district():
        settings = await views.district_settings(database(request), district_id)
    return _page(request, settings, caller, can_edit)


@router.post(PAGE)
async def save_settings(request: Request, district_id: str):
    session_principal(request)
    form = await require_csrf(request)
    caller, can_edit = await _visitor(request, district_id)
    if not can_edit:
        raise PageError(403, "Not allowed", "Only a district administrator of this district can change its settings.")
    db = database(request)
    changes, shown = _changes_of(form)
    try:
        DistrictSettingsUpdate.model_validate(changes)
    except ValidationError as exc:
        with _known_district():
            settings = await views.district_settings(db, district_id)
        # The version edited stays in the form: saving the corrected values must still notice a
        # change someone else made meanwhile.
        edited = form.get("version", "")
        return _page(request, settings, caller, can_edit, status=422, form=shown, errors=field_errors(exc),
                     version=edited if edited.isascii() and edited.isdigit() else "")
    try:
        with _known_district():
            async with db.unit_of_work() as uow:
                _, changed = await update_settings(uow, district_id, changes, by=caller.name,
                                                   expected_versions=expected_versions(form.get("version", "")))
    except VersionMismatch as exc:
        return _page(request, exc.current, caller, can_edit, status=409, conflict=True)
    return redirect(request, PAGE.format(district_id=district_id), flash="saved" if changed else "unchanged")
