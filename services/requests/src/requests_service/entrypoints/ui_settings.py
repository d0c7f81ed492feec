"""District Settings in the staff app: a page over the settings service's API.

District administrators change the settings here; Users Managers see them read-only. The settings
service stays the one place of its rules: the page reads with `GET /api/v1/districts/{id}/settings`
and saves with `PATCH` plus `If-Match` (the version the form showed), as the signed-in person, and
turns the answers into the page (422 marks the field, 412 shows what someone else saved, 403
read-only). The form works without JavaScript and posts with the CSRF token.
"""
from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache

from fastapi import APIRouter, Request

from ..adapters.peers import error_of
from .deps import runtime_of
from .ui import me_of
from .web import PageError, redirect, render, require_csrf, session_token

router = APIRouter(include_in_schema=False)
PAGE = "/district-settings"
CHECKBOXES = ("profile_update_requests_enabled", "daily_digest_enabled", "contact_details_auto_update")


@cache
def _timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _form_of(s: dict) -> dict:
    return {
        "profile_update_requests_enabled": s["profile_update_requests_enabled"],
        "daily_digest_enabled": s["notifications"]["daily_digest_enabled"],
        "digest_local_time": s["notifications"]["digest_local_time"],
        "timezone": s["notifications"]["timezone"],
        "contact_details_auto_update": s["sis_sync"]["contact_details_auto_update"],
    }


def _changes_of(form: dict) -> tuple[dict, dict]:
    """The posted form as a full settings change (JSON merge body), and its values to show again."""
    shown = {name: name in form for name in CHECKBOXES}
    shown |= {"digest_local_time": form.get("digest_local_time", "").strip()[:16],
              "timezone": form.get("timezone", "").strip()[:64]}
    changes = {
        "profile_update_requests_enabled": shown["profile_update_requests_enabled"],
        "notifications": {"daily_digest_enabled": shown["daily_digest_enabled"],
                          "digest_local_time": shown["digest_local_time"], "timezone": shown["timezone"]},
        "sis_sync": {"contact_details_auto_update": shown["contact_details_auto_update"]},
    }
    return changes, shown


def _staff_only(me) -> None:
    if not (me["district_admin"] or me["manager_scope"]):
        raise PageError(403, "Not allowed", "District Settings are for district administrators and Users Managers.")


async def _read(request: Request, me, token: str) -> dict:
    r = await runtime_of(request).parts.peers.call("settings", "GET",
                                                   f"/api/v1/districts/{me['district_id']}/settings", token=token)
    if r.status_code == 404:
        raise PageError(404, "Not found", "There are no settings of your district yet: its roster must be imported first.")
    if r.status_code != 200:
        raise PageError(403, "Not allowed", "You cannot see these settings.")
    return r.json()


def _page(request: Request, me, s: dict, *, status: int = 200, form: dict | None = None,
          errors: dict | None = None, conflict: bool = False, version: str | None = None):
    updated_at = datetime.fromisoformat(s["updated_at"]) if s.get("updated_at") else None
    return render(request, "district_settings.html", status, user=me, s=s, updated_at=updated_at,
                  version=str(s["version"]) if version is None else version, form=form or _form_of(s),
                  errors=errors or {}, conflict=conflict, can_edit=bool(me["district_admin"]),
                  timezones=_timezones(), action=PAGE)


@router.get(PAGE)
async def district_settings(request: Request):
    token = session_token(request)
    async with runtime_of(request).db.acquire() as conn:
        me, _ = await me_of(request, conn)
    _staff_only(me)
    return _page(request, me, await _read(request, me, token))


@router.post(PAGE)
async def save_district_settings(request: Request):
    token = session_token(request)
    form = await require_csrf(request)
    async with runtime_of(request).db.acquire() as conn:
        me, _ = await me_of(request, conn)
    _staff_only(me)
    if not me["district_admin"]:
        raise PageError(403, "Not allowed", "Only a district administrator can change the settings.")
    changes, shown = _changes_of(form)
    version = form.get("version", "")
    version = version if version.isascii() and version.isdigit() else ""
    headers = {"If-Match": f'"{version}"'} if version else {}
    r = await runtime_of(request).parts.peers.call(
        "settings", "PATCH", f"/api/v1/districts/{me['district_id']}/settings", token=token, json=changes,
        headers=headers)
    if r.status_code == 200:
        changed = str(r.json()["version"]) != version
        return redirect(PAGE, flash="settings_saved" if changed else "settings_unchanged")
    if r.status_code == 412:
        return _page(request, me, await _read(request, me, token), status=409, conflict=True)
    if r.status_code == 422:
        error = error_of(r)
        field = str(error.get("field") or "body")
        message = str(error.get("message") or "This value is not valid.")
        message = message.split(": ", 1)[1] if message.startswith(f"{field}: ") else message
        # the version edited stays in the form: saving the corrected values must still notice a
        # change someone else made meanwhile
        return _page(request, me, await _read(request, me, token), status=422, form=shown,
                     errors={field: message[:1].upper() + message[1:]}, version=version)
    if r.status_code in (401, 403):
        raise PageError(403, "Not allowed", "Only a district administrator of this district can change its settings.")
    raise PageError(404, "Not found", "There are no settings of your district yet: its roster must be imported first.")
