"""My requests: a requester's own requests and the form that submits one.

The page is translated (see `i18n`). The domain's refusals are English sentences for the JSON
API; here they are reworded, by field and rule, into sentence-case messages in the page's
language that say what to do, shown next to the field they are about.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import uuid4

from babel.support import NullTranslations
from fastapi import APIRouter, Request
from pur_kit.cursor import BadCursor

from .. import views
from ..domain import model
from ..domain.changes import FIELDS
from ..domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit
from ..domain.model import DistrictPolicy
from ..service_layer import submission
from . import i18n
from .deps import runtime_of
from .i18n import N_
from .ui import PAGE_SIZE, me_of
from .web import redirect, render, require_csrf

router = APIRouter(include_in_schema=False)

# The domain's field labels (`changes.LABELS`) and the note, marked for extraction: the page
# shows them through `_()`.
FIELD_LABELS = {"given_name": N_("Given name"), "family_name": N_("Family name"), "email": N_("Email"),
                "phone": N_("Phone"), "sms": N_("SMS number"), "note": N_("Note")}

# Why the form is off: the domain's reasons (`DistrictPolicy.refusal`), repeated here so that they
# are extracted (tests/unit/test_locale.py checks they are the same text).
REFUSALS = {
    model.DISABLED_SIS_OWNS_CONTACTS: N_(
        "Profile update requests are turned off in your district. Your contact details come from the SIS "
        "(the school's student information system): please ask your school office to change them."),
    model.DISABLED_SELF_SERVICE: N_(
        "Profile update requests are turned off in your district. You can edit your own email, phone and "
        "SMS number on your My contact details page."),
}

_AT_MOST = re.compile(r"at most (\d+) characters")
# The domain's InvalidChange messages (changes.py, model.py) -> the page's.
_RULES = {
    "unknown field": N_("This detail cannot be changed here."),
    "must not be empty": N_("Enter a value."),
    "must not contain control characters, line breaks or bidirectional override characters":
        N_("Remove line breaks and special characters (control or text-direction characters)."),
    "must not contain control characters other than line breaks and tabs, nor bidirectional override "
    "characters": N_("Remove special characters (control or text-direction characters); line breaks are fine."),
    "not a valid email address": N_("Enter a valid email address, like name@example.org."),
    "must be an international number like +15555550123":
        N_("Enter the number in international format: + and the country code, like +15555550123."),
    "equal to the current value": N_("This is already your current value: enter the new one, or leave it empty."),
    "ask for at least one change or write a note": N_("Ask for at least one change or write a note."),
}


@dataclass(frozen=True, slots=True)
class FormError:
    message: str               # in the page's language
    field: str | None = None   # the form field it is about (its input is `f-<field>`), if any
    anchor: str | None = None  # where the banner's link goes when no field is at fault


def form_error(exc: InvalidChange, tr: NullTranslations) -> FormError:
    """The page's message for a refused value; a rule without a rewording gets a generic one."""
    if match := _AT_MOST.fullmatch(exc.message):
        limit = int(match.group(1))
        message = tr.ngettext("Use at most %(num)d character.", "Use at most %(num)d characters.", limit) % {
            "num": limit}
    elif exc.message in _RULES:
        message = tr.gettext(_RULES[exc.message])
    else:
        message = tr.gettext(N_("Check this value."))
    if exc.field in FIELD_LABELS:
        return FormError(message, field=exc.field)
    # "ask for at least one change" is about the form as a whole: its link goes to the first field
    return FormError(message, anchor=f"f-{FIELDS[0]}")


def refusal_message(exc: Exception, tr: NullTranslations) -> str:
    if isinstance(exc, FeatureDisabled):
        return tr.gettext(REFUSALS.get(str(exc), str(exc)))
    if isinstance(exc, NotAllowedToSubmit):
        return tr.gettext(N_("Only active members of your district can send a request."))
    return tr.gettext(N_("This form was already sent with other values. Reload the page and try again."))


async def _my_page(request: Request, conn, me, *, status: int = 200, error: FormError | None = None,
                   values: dict | None = None, cursor: str | None = None):
    policy_row = await views.district_policy(conn, me["district_id"])
    policy = DistrictPolicy(*policy_row) if policy_row else DistrictPolicy()
    try:
        after = views.Cursor.decode(cursor) if cursor else None
    except BadCursor:
        after = None
    rows, following = await views.list_mine(conn, me["id"], PAGE_SIZE, after)
    refusal = policy.refusal()
    return render(request, "my_requests.html", status, user=me, rows=rows,
                  disabled_reason=i18n.translator(request).gettext(REFUSALS.get(refusal, refusal)) if refusal else None,
                  error=error, values=values or {}, fields=FIELDS, field_labels=FIELD_LABELS,
                  idempotency_key=uuid4().hex,
                  next_url=f"/my-requests?cursor={following.encode()}" if following else None)


@router.get("/my-requests")
async def my_requests(request: Request, cursor: str | None = None):
    async with runtime_of(request).db.acquire() as conn:
        me, _ = await me_of(request, conn)
        return await _my_page(request, conn, me, cursor=cursor)


@router.post("/my-requests")
async def submit_form(request: Request):
    form = await require_csrf(request)
    runtime = runtime_of(request)
    db = runtime.db
    async with db.acquire() as conn:
        me, _ = await me_of(request, conn)
    changes = {f: form[f] for f in FIELDS if form.get(f, "").strip()}
    note = form.get("note") or None
    key = (form.get("idempotency_key") or "")[:255] or None
    values = {k: form.get(k, "") for k in (*FIELDS, "note")}
    try:
        await runtime.parts.submissions.submit(user_id=me["id"], district_id=me["district_id"],
                                               changes=changes, note=note, idempotency_key=key)
    except InvalidChange as exc:
        async with db.acquire() as conn:
            return await _my_page(request, conn, me, status=422, error=form_error(exc, i18n.translator(request)),
                                  values=values)
    except (FeatureDisabled, NotAllowedToSubmit, submission.IdempotencyKeyReused) as exc:
        status = 409 if isinstance(exc, submission.IdempotencyKeyReused) else 403
        async with db.acquire() as conn:
            return await _my_page(request, conn, me, status=status,
                                  error=FormError(refusal_message(exc, i18n.translator(request))), values=values)
    return redirect("/my-requests", flash="submitted")
