"""The language of the requester-facing pages (English or Spanish), their gettext catalogue and
dates in that language.

Families are not all English speakers: My requests, My contact details and the error pages a
requester can meet are translated; the staff pages stay in English, and so do their `<html lang>` and header, so no page
mixes languages. The language comes from `?lang=` (remembered in the `pur_lang` cookie), else the
cookie, else `Accept-Language`, else English; any value we do not know falls back to English.

The Spanish catalogue is `locale/es/LC_MESSAGES/messages.po`, read and compiled in memory when
the module is imported (Babel), so no generated `.mo` is committed and a broken `.po` stops the
service at start rather than at the first Spanish page. `make i18n` re-extracts `messages.pot`
from the templates and the Python sources and updates the `.po` (see the service's README).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from urllib.parse import urlencode

from babel.core import negotiate_locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages import mofile, pofile
from babel.support import NullTranslations, Translations
from fastapi import Request
from fastapi.responses import Response
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from pur_kit.web import time_zone

from .deps import runtime_of

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
DOMAIN = "messages"
DEFAULT = "en"
# endonyms: each is shown in its own language (and `lang` attribute) whatever the page's language
LANGUAGES = {"en": "English", "es": "Español"}
# Babel locale for numbers and dates: Latin-American Spanish (`es_419`: "30 nov 2026, 5:05 p.m.")
FORMAT_LOCALES = {"en": "en_US", "es": "es_419"}
COOKIE = "pur_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Pages whose every string is in the catalogue. The others are rendered in English.
TRANSLATED_TEMPLATES = frozenset({"my_requests.html", "my_contact.html", "error.html"})
# Context values that hold an English message from Python (flash, error page): translated when the
# catalogue knows them, shown as they are otherwise.
TRANSLATED_CONTEXT = ("flash", "title", "message")


def N_(message: str) -> str:
    """Marks a message for extraction (the gettext convention); it is translated where shown."""
    return message


# Messages that reach the translated pages from code this module does not own (the kit, web.py,
# ui.py, ui_manage.py): they are marked here so that `make i18n` extracts them. The tests check
# that every state of those pages shows no English.
EXTERNAL_MESSAGES = (
    # flash messages (web.FLASH) a requester can see
    N_("Your request was sent."), N_("You are logged out."),
    N_("Your contact details were saved."),
    N_("Nothing to save: your contact details already had these values."),
    N_("You will get the daily digest email again."), N_("You will no longer get the daily digest email."),
    # error pages (PageError, the kit's expired form, the 401 page)
    N_("Please sign in"), N_("You need to be signed in to see this page."),
    N_("Form expired"), N_("This form is no longer valid. Go back, reload the page and retry."),
    N_("Not for the system credential"), N_("These pages are for people: log in as one."),
    N_("Unknown user"), N_("The directory does not know you (yet)."),
    N_("Users Managers only"), N_("Only staff with the Users Manager permission can open this page."),
    N_("Not found"), N_("There is no such page."),
    N_("Request not found"), N_("There is no such request, or it is not one you manage."),
    N_("Bad page link"), N_("This page link is not valid; start from the first page."),
    N_("Pick someone"), N_("Choose one of the listed identities."),
    N_("Not allowed"), N_("District Settings are for district administrators and Users Managers."),
    N_("You cannot see these settings."), N_("Only a district administrator can change the settings."),
    N_("Only a district administrator of this district can change its settings."),
    N_("You cannot change these contact details."), N_("Only Users Managers get the daily digest email."),
    N_("There are no settings of your district yet: its roster must be imported first."),
    N_("Temporarily unavailable"), N_("This page cannot be shown right now. Please try again in a minute."),
)

# --- the catalogues -----------------------------------------------------------------------------


def _compile(lang: str) -> Translations:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = pofile.read_po(po, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    mofile.write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: show English
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of a language of `LANGUAGES` (English is the msgids themselves)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    return NullTranslations() if lang == DEFAULT else _compile(lang)


for _lang in LANGUAGES:  # compile at import: a broken .po fails the start, not a page
    translations(_lang)

# --- which language ------------------------------------------------------------------------------

_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*")
_QVALUE = re.compile(r"0(?:\.\d{0,3})?|1(?:\.0{0,3})?")  # RFC 9110 §12.4.2
_MAX_HEADER = 1024
_MAX_RANGES = 32


def parse_accept_language(header: str | None) -> list[str]:
    """The language ranges of an `Accept-Language` header, most preferred first.

    Tags are lower-cased (they are case-insensitive; Babel's matching is not). Ties keep the
    header's order; a range with `q=0` (not acceptable) or anything malformed (a bad tag, a bad
    q-value) is dropped, and an oversized header is ignored rather than parsed.
    """
    if not header or len(header) > _MAX_HEADER:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:_MAX_RANGES]):
        tag, *params = (part.strip() for part in item.split(";"))
        if not _TAG.fullmatch(tag):
            continue
        quality: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _QVALUE.fullmatch(value) else None
        if quality:  # None (malformed) and 0 (refused) alike
            ranked.append((-quality, position, tag.lower()))
    return [tag for _, _, tag in sorted(ranked)]


def from_accept_language(header: str | None) -> str:
    found = negotiate_locale(parse_accept_language(header), list(LANGUAGES), sep="-", aliases=None)
    return found if found in LANGUAGES else DEFAULT


@dataclass(frozen=True, slots=True)
class PageLanguage:
    code: str
    chosen: bool  # asked for with ?lang=: remember it in the cookie


def choose(request: Request) -> PageLanguage:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return PageLanguage(asked, chosen=True)
    remembered = request.cookies.get(COOKIE)
    if remembered in LANGUAGES:
        return PageLanguage(remembered, chosen=False)
    return PageLanguage(from_accept_language(request.headers.get("accept-language")), chosen=False)


def translator(request: Request) -> NullTranslations:
    """The catalogue of the request's language, for messages built in Python (form errors)."""
    return translations(choose(request).code)


def switch_links(request: Request, current: str) -> list[dict]:
    """The header's language switch: the same page (and query) in each language."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return [{"code": code, "name": name, "current": code == current,
             "href": f"{request.url.path}?{urlencode([*query, ('lang', code)])}"}
            for code, name in LANGUAGES.items()]


# --- rendering -----------------------------------------------------------------------------------

_page: ContextVar[NullTranslations | None] = ContextVar("page_translations", default=None)


def _catalogue() -> NullTranslations:
    return _page.get() or translations(DEFAULT)


def localized(request: Request, template: str, context: dict, build: Callable[[], Response]) -> Response:
    """`build()` renders `template` with `context` in the request's language.

    Sets `page_lang` (for `<html lang>`) and `languages` (the switch; empty on English-only pages),
    translates the context's Python messages, and remembers a `?lang=` choice in the cookie. The
    templates' gettext reads a context variable set around the (synchronous) rendering, so
    concurrent requests in other languages never see each other's catalogue.
    """
    page = choose(request) if template in TRANSLATED_TEMPLATES else PageLanguage(DEFAULT, chosen=False)
    catalogue = translations(page.code)
    for key in TRANSLATED_CONTEXT:
        if isinstance(context.get(key), str):
            context[key] = catalogue.gettext(context[key])
    context["page_lang"] = page.code
    context["languages"] = switch_links(request, page.code) if template in TRANSLATED_TEMPLATES else []
    token = _page.set(catalogue)
    try:
        response = build()
    finally:
        _page.reset(token)
    if page.chosen:
        response.set_cookie(COOKIE, page.code, max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax", path="/",
                            secure=runtime_of(request).settings.secure_cookies)
    return response


def install(env: Environment) -> None:
    """Jinja2's i18n extension (new-style gettext: autoescaped, `%(name)s` placeholders, trimmed
    `{% trans %}` blocks) reading the catalogue of the page being rendered, and `when_local`."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        gettext=lambda message: _catalogue().gettext(message),
        ngettext=lambda singular, plural, n: _catalogue().ngettext(singular, plural, n),
        pgettext=lambda context, message: _catalogue().pgettext(context, message),
        npgettext=lambda context, singular, plural, n: _catalogue().npgettext(context, singular, plural, n),
        newstyle=True)
    env.filters["when_local"] = when_local


# --- dates ----------------------------------------------------------------------------------------


def format_when(value: object, lang: str = DEFAULT, zone: str | None = None) -> str:
    """A datetime as a reader of `lang` writes it, in the IANA `zone` (UTC when None or unknown),
    with the zone's abbreviation: "Nov 30, 2026, 11:05 AM CST", "30 nov 2026, 11:05 a.m. CST"."""
    if not isinstance(value, datetime):
        return ""
    local = value.astimezone(time_zone(zone))
    locale = FORMAT_LOCALES.get(lang, FORMAT_LOCALES[DEFAULT])
    text = (get_datetime_format("medium", locale=locale).replace("'", "")
            .replace("{1}", format_date(local, "medium", locale=locale))
            .replace("{0}", format_time(local, "short", tzinfo=local.tzinfo, locale=locale)))
    return f"{text} {local.tzname()}"


@pass_context
def when_local(context: Context, value: object) -> str:
    """`format_when` in the page's language and `timezone` (the context value the kit's `when` reads)."""
    return format_when(value, context.get("page_lang") or DEFAULT, context.get("timezone"))
