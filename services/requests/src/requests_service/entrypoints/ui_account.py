"""A person's own pages over the other services' APIs: My contact details (sis_sync's directory)
and Email notifications (digest's personal opt-out of the daily digest).

My contact details follows the ownership rule (docs/product-rules.md): while the district updates
contact details automatically from the SIS, the page shows them read-only and says where they are
changed; otherwise the person edits their email, phone and SMS number here, through
`PATCH /api/v1/directory/users/me/contact`, which validates and refuses exactly as the API does.

My contact details is translated (see `i18n`). sis_sync's refusals are English sentences for the
JSON API; the page words them itself, by the field sis_sync names and the rule the submitted value
breaks (too long, a refused character, else the field's format), in the page's language.
"""
from __future__ import annotations

from datetime import datetime

from babel.support import NullTranslations
from fastapi import APIRouter, Request
from pur_contracts.base import has_unsafe_characters

from .. import views
from ..adapters.peers import error_of
from ..domain.model import DistrictPolicy
from . import i18n
from .deps import runtime_of
from .i18n import N_
from .ui import me_of
from .web import PageError, redirect, render, require_csrf, session_token

router = APIRouter(include_in_schema=False)
CONTACT_FIELDS = ("email", "phone", "sms")
LIMITS = {"email": 254, "phone": 32, "sms": 32}  # sis_sync's ContactUpdate
CONTACT_LABELS = {"email": N_("Email"), "phone": N_("Phone"), "sms": N_("SMS number")}
# What to do about a value sis_sync refused, by field, when it is neither too long nor holds a
# refused character (sis_sync's domain/contact.py: an email address; 7 to 15 digits, "+" optional).
_FORMATS = {"email": N_("Enter a valid email address, like name@example.org."),
            "phone": N_("Enter the number in international format: + and the country code, like +15555550123."),
            "sms": N_("Enter the number in international format: + and the country code, like +15555550123.")}
SIS_NOW_OWNS = N_("Your district now updates contact details from the SIS: they cannot be edited here.")


def contact_error(field: str, value: str, tr: NullTranslations) -> str:
    """The page's message for a value of `field` that sis_sync answered 422 about.

    The rule is found from the value itself rather than from sis_sync's English text: the same
    checks, in the order sis_sync applies them (its body model's length, then refused characters,
    then the format).
    """
    if field not in CONTACT_FIELDS:
        return tr.gettext(N_("Check this value."))
    if len(value) > LIMITS[field]:
        limit = LIMITS[field]
        return tr.ngettext("Use at most %(num)d character.", "Use at most %(num)d characters.", limit) % {"num": limit}
    if has_unsafe_characters(value):
        return tr.gettext(N_("Remove line breaks and special characters (control or text-direction characters)."))
    return tr.gettext(_FORMATS[field])


async def _contact_context(request: Request):
    token = session_token(request)
    async with runtime_of(request).db.acquire() as conn:
        me, _ = await me_of(request, conn)
        policy_row = await views.district_policy(conn, me["district_id"])
    policy = DistrictPolicy(*policy_row) if policy_row else DistrictPolicy()
    return token, me, policy


async def _directory_entry(request: Request, token: str) -> dict:
    r = await runtime_of(request).parts.peers.call("directory", "GET", "/api/v1/directory/users/me", token=token)
    if r.status_code != 200:
        raise PageError(404, "Not found", "The directory does not know you (yet).")
    return r.json()


def _contact_page(request: Request, me, policy: DistrictPolicy, entry: dict, *, status: int = 200,
                  values: dict | None = None, error: str | None = None, error_field: str | None = None,
                  managed_by_sis: bool | None = None):
    sis_owns = policy.contact_details_auto_update if managed_by_sis is None else managed_by_sis
    return render(request, "my_contact.html", status, user=me, entry=entry,
                  values=values or {f: entry.get(f) or "" for f in CONTACT_FIELDS}, sis_owns=sis_owns,
                  error=error, error_field=error_field, limits=LIMITS, labels=CONTACT_LABELS)


@router.get("/my-contact")
async def my_contact(request: Request):
    token, me, policy = await _contact_context(request)
    return _contact_page(request, me, policy, await _directory_entry(request, token))


@router.post("/my-contact")
async def save_my_contact(request: Request):
    form = await require_csrf(request)
    token, me, policy = await _contact_context(request)
    entry = await _directory_entry(request, token)
    values = {f: (form.get(f) or "").strip()[:LIMITS[f] + 1] for f in CONTACT_FIELDS}
    # only what differs is sent; an emptied field is cleared (null)
    changes = {f: (v or None) for f, v in values.items() if v != (entry.get(f) or "")}
    if not changes:
        return redirect("/my-contact", flash="contact_unchanged")
    r = await runtime_of(request).parts.peers.call("directory", "PATCH", "/api/v1/directory/users/me/contact",
                                                   token=token, json=changes)
    if r.status_code == 200:
        return redirect("/my-contact", flash="contact_saved")
    error = error_of(r)
    if r.status_code == 409 and error.get("code") == "contact_details_managed_by_sis":
        return _contact_page(request, me, policy, entry, status=409, managed_by_sis=True,
                             error=i18n.translator(request).gettext(SIS_NOW_OWNS))
    if r.status_code == 422:
        field = str(error.get("field") or "").rsplit(".", 1)[-1]  # "email", or "body.email" from pydantic
        return _contact_page(request, me, policy, entry, status=422, values=values,
                             error=contact_error(field, values.get(field, ""), i18n.translator(request)),
                             error_field=field if field in CONTACT_FIELDS else None)
    raise PageError(403, "Not allowed", "You cannot change these contact details.")


# --- Email notifications (Users Managers) ------------------------------------------------------
async def _subscription(request: Request, token: str) -> dict:
    r = await runtime_of(request).parts.peers.call("digest", "GET", "/api/v1/digest/subscription", token=token)
    if r.status_code != 200:
        raise PageError(403, "Users Managers only", "Only Users Managers get the daily digest email.")
    return r.json()


@router.get("/notifications")
async def notifications(request: Request):
    token = session_token(request)
    async with runtime_of(request).db.acquire() as conn:
        me, viewer = await me_of(request, conn)
    if not viewer.is_manager:
        raise PageError(403, "Users Managers only", "Only Users Managers get the daily digest email.")
    subscription = await _subscription(request, token)
    since = subscription.get("changed_at")
    return render(request, "notifications.html", user=me, subscribed=bool(subscription.get("subscribed", True)),
                  unsubscribed_at=datetime.fromisoformat(since) if isinstance(since, str) else None,
                  via_email_link=subscription.get("via") == "email_link",
                  district_digest_on=bool(subscription.get("district_digest_on", True)))


@router.post("/notifications")
async def save_notifications(request: Request):
    form = await require_csrf(request)
    token = session_token(request)
    async with runtime_of(request).db.acquire() as conn:
        _, viewer = await me_of(request, conn)
    if not viewer.is_manager:
        raise PageError(403, "Users Managers only", "Only Users Managers get the daily digest email.")
    subscribed = form.get("subscribed") == "true"
    r = await runtime_of(request).parts.peers.call("digest", "PUT", "/api/v1/digest/subscription", token=token,
                                                   json={"subscribed": subscribed})
    if r.status_code != 200:
        raise PageError(403, "Users Managers only", "Only Users Managers get the daily digest email.")
    return redirect("/notifications", flash="notifications_on" if subscribed else "notifications_off")
