"""The requester-facing pages in Spanish: every state of My requests and the error pages a requester
can meet, chosen by Accept-Language, by ?lang=es, and by the cookie ?lang=es leaves.

"No English is left" is checked against the catalogue itself: no visible text (text nodes and the
attributes people read: aria-label, title, placeholder, alt) may be an English msgid whose Spanish
differs, plus a short list of English words as a backstop for strings that never reached the
catalogue.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
from html.parser import HTMLParser

import httpx
import pytest
from babel.messages.pofile import read_po
from pur_kit.auth import SESSION_COOKIE
from requests_service.entrypoints import i18n

API = "/api/v1/requests"
SPANISH = {"Accept-Language": "es-MX,es;q=0.9"}
MODES = ("accept-language", "query", "cookie")
# English words that have no business on a Spanish page (user data in these tests avoids them)
BACKSTOP = {"the", "your", "you", "please", "request", "requests", "sent", "send", "submitted", "status",
            "changes", "new", "done", "none", "page", "sign", "log", "out", "skip", "content", "now",
            "empty", "enter", "valid", "found", "only", "managers", "expired", "form", "optional"}


# --- reading a page -------------------------------------------------------------------------------

class _Visible(HTMLParser):
    """The texts a person reads or hears: text nodes outside <script>/<style>, and the attributes
    that screen readers or browsers show."""

    ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.html_lang: str | None = None
        self.links: list[dict[str, str | None]] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "html":
            self.html_lang = found.get("lang")
        if tag == "a":
            self.links.append(found)
        if tag in ("script", "style"):
            self._hidden += 1
        self.texts.extend(v.strip() for k, v in attrs if k in self.ATTRIBUTES and v and v.strip())
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self.texts.append(found["value"].strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def read(html: str) -> _Visible:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return parser


def _english_msgids() -> list[str]:
    """The catalogue's English strings that Spanish writes differently ("SMS" is both)."""
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as pot:
        template = read_po(pot)
    spanish = i18n.translations("es")
    english = []
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            singular, plural = message.id
            for n, text in ((1, singular), (2, plural)):
                if spanish.ngettext(singular, plural, n) != text:
                    english.append(text)
        elif spanish.gettext(message.id) != message.id:
            english.append(message.id)
    return english


ENGLISH = _english_msgids()
_AS_PATTERN = [re.compile(re.sub(r"%\\\(\w+\\\)[sd]", ".+", re.escape(m)) + r"\Z", re.DOTALL) for m in ENGLISH]


def _is_english(text: str) -> bool:
    return (any(pattern.match(text) for pattern in _AS_PATTERN)
            or any(len(m.split()) >= 4 and m in text for m in ENGLISH)      # a sentence inside a text
            or bool(BACKSTOP & {word.lower() for word in re.findall(r"[A-Za-z]+", text)}))


def english_left(html: str) -> list[str]:
    """Visible texts that are (or contain) an English msgid, or hold a backstop English word."""
    return [text for text in read(html).texts if _is_english(text)]


def assert_spanish(page: httpx.Response) -> None:
    seen = read(page.text)
    assert seen.html_lang == "es", page.text[:200]
    assert english_left(page.text) == [], page.text
    switch = {link.get("lang"): link for link in seen.links if link.get("hreflang")}
    assert switch["en"]["href"].endswith("lang=en") and switch["es"]["href"].endswith("lang=es")


# --- clients in each mode -------------------------------------------------------------------------

class Spanish:
    """Requests in Spanish by one of the three ways: the header, ?lang=es, the cookie alone."""

    def __init__(self, client: httpx.AsyncClient, mode: str) -> None:
        self.client, self.mode = client, mode

    def _url(self, url: str) -> str:
        if self.mode != "query":
            return url
        return url + ("&" if "?" in url else "?") + "lang=es"

    async def get(self, url: str, **kwargs) -> httpx.Response:
        return await self.client.get(self._url(url), **kwargs)

    async def post(self, url: str, **kwargs) -> httpx.Response:
        return await self.client.post(self._url(url), **kwargs)


@contextlib.asynccontextmanager
async def spanish_client(svc, mode: str, person=None):
    headers = SPANISH if mode == "accept-language" else {"Accept-Language": "en-US,en;q=0.9"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test",
                                 headers=headers) as client:
        if person is not None:
            r = await client.post("/login", data={"user_id": str(person.id)})
            assert r.status_code == 303, r.text
            client.cookies.set(SESSION_COOKIE, r.cookies[SESSION_COOKIE])
        if mode == "cookie":
            # one visit with ?lang=es, then the cookie alone (it beats the English Accept-Language)
            r = await client.get("/my-requests?lang=es")
            assert r.cookies.get(i18n.COOKIE) == "es"
            client.cookies.set(i18n.COOKIE, r.cookies[i18n.COOKIE])
        yield Spanish(client, mode)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


@contextlib.contextmanager
def without_dev_login(svc):
    svc.runtime.settings.dev_login = False
    try:
        yield
    finally:
        svc.runtime.settings.dev_login = True


# --- the pages ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
async def test_my_requests_empty_with_requests_and_after_sending_is_spanish(svc, cast, mode):
    async with spanish_client(svc, mode, cast.requester_b) as es:
        empty = await es.get("/my-requests")
        assert empty.status_code == 200
        assert_spanish(empty)
        assert "Todavía no ha enviado ninguna solicitud." in empty.text
        assert 'for="f-given_name">Nombre<' in empty.text and 'for="f-family_name">Apellido<' in empty.text
        assert ">Correo electrónico<" in empty.text and ">Teléfono<" in empty.text
        assert ">Número para SMS<" in empty.text and ">Enviar solicitud<" in empty.text

        r = await es.post("/my-requests", data={"csrf": csrf_of(empty.text), "idempotency_key": f"es-{mode}",
                                                 "phone": "+15555550199", "note": "por favor"})
        assert r.status_code == 303
        es.client.cookies.set("pur_flash", r.cookies["pur_flash"])
        page = await es.get("/my-requests")
        es.client.cookies.delete("pur_flash")
    assert_spanish(page)
    assert "Se envió su solicitud." in page.text and ">Nueva<" in page.text and "Teléfono: +15555550199" in page.text


async def test_requests_new_and_done_show_spanish_statuses_and_dates(svc, cast):
    requester = svc.headers(cast.requester_a)
    first = await svc.client.post(API, json={"changes": {"email": "rita.nueva@example.org"}}, headers=requester)
    second = await svc.client.post(API, json={"note": "mi apellido lleva tilde"}, headers=requester)
    assert first.status_code == second.status_code == 201
    done = await svc.client.post(f"{API}/{first.json()['id']}/mark-done", headers=svc.headers(cast.manager_a))
    assert done.status_code == 200
    async with spanish_client(svc, "accept-language", cast.requester_a) as es:
        page = await es.get("/my-requests")
    assert_spanish(page)
    assert ">Completada<" in page.text and ">Nueva<" in page.text and ">ninguno<" in page.text
    times = re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", page.text)
    assert len(times) == 2
    for shown in times:  # es_419: "30 nov 2026, 5:05 p.m. EST"
        assert re.fullmatch(r"\d{1,2} [a-z]{3,5}\.? \d{4}, \d{1,2}:\d{2}\s[ap]\.\s?m\. \S+", shown), shown


@pytest.mark.parametrize("mode", MODES)
async def test_a_form_error_is_spanish_next_to_its_field_and_linked_from_the_banner(svc, cast, mode):
    async with spanish_client(svc, mode, cast.requester_a) as es:
        page = await es.get("/my-requests")
        r = await es.post("/my-requests", data={"csrf": csrf_of(page.text), "idempotency_key": f"bad-{mode}",
                                                 "email": "no-es-un-correo"})
    assert r.status_code == 422
    assert_spanish(r)
    message = "Ingrese un correo electrónico válido, como nombre@ejemplo.org."
    assert f'<span class="alert" id="err-email">{message}</span>' in r.text
    assert f'<a href="#f-email">Correo electrónico: {message}</a>' in r.text
    field = re.search(r"<input id=\"f-email\"[^>]*>", r.text).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="now-email err-email"' in field
    assert 'value="no-es-un-correo"' in field
    assert r.text.count('aria-invalid="true"') == 1


async def test_every_form_error_a_requester_can_make_is_spanish(svc, cast):
    long_name = "x" * 101
    cases = [({"given_name": long_name}, "given_name", "Use como máximo 100 caracteres."),
             ({"email": "rita@example.org"}, "email", "Este ya es su dato actual"),
             ({"sms": "12345"}, "sms", "Ingrese el número en formato internacional"),
             ({"family_name": "Re\u202equester"}, "family_name", "Quite los saltos de línea"),
             ({"note": "a\u202eb"}, "note", "Quite los caracteres especiales"),
             ({"note": "n" * 2001}, "note", "Use como máximo 2000 caracteres."),
             ({}, None, "Pida al menos un cambio o escriba una nota.")]
    async with spanish_client(svc, "accept-language", cast.requester_a) as es:
        page = await es.get("/my-requests")
        for number, (values, field, expected) in enumerate(cases):
            r = await es.post("/my-requests", data={"csrf": csrf_of(page.text), "idempotency_key": f"case-{number}",
                                                     **values})
            assert r.status_code == 422, values
            assert_spanish(r)
            assert expected in r.text, values
            if field:
                assert f'id="err-{field}"' in r.text and r.text.count('aria-invalid="true"') == 1
            else:  # about the whole form: the banner points at the first field, no field is marked
                assert '<a href="#f-given_name">' in r.text and 'aria-invalid' not in r.text


@pytest.mark.parametrize("contact_auto, expected", [(True, "pida a la oficina de su escuela"),
                                                    (False, "en su página Mis datos de contacto")])
async def test_the_feature_turned_off_is_explained_in_spanish(svc, cast, contact_auto, expected):
    await svc.world.settings(cast.district, enabled=False, contact_auto=contact_auto)
    async with spanish_client(svc, "query", cast.requester_a) as es:
        page = await es.get("/my-requests")
        assert page.status_code == 200
        assert_spanish(page)
        assert expected in page.text
        r = await es.post("/my-requests", data={"csrf": csrf_of(page.text), "note": "por favor"})
    assert r.status_code == 403
    assert_spanish(r)


@pytest.mark.parametrize("mode", MODES)
async def test_error_pages_a_requester_meets_are_spanish(svc, cast, mode):
    async with spanish_client(svc, mode, cast.requester_a) as es:
        staff_only = await es.get("/manage-requests")
        assert staff_only.status_code == 403 and "Solo para gestores de usuarios" in staff_only.text
        expired = await es.post("/my-requests", data={"csrf": "0" * 64, "note": "x"})
        assert expired.status_code == 403 and "Formulario vencido" in expired.text
        with without_dev_login(svc):
            missing = await es.get("/login")
            assert missing.status_code == 404 and "Esta página no existe." in missing.text
            es.client.cookies.delete(SESSION_COOKIE)
            signed_out = await es.get("/my-requests")
            assert signed_out.status_code == 401 and "Inicie sesión" in signed_out.text
    for page in (staff_only, expired, missing, signed_out):
        assert_spanish(page)


# --- choosing the language ------------------------------------------------------------------------

async def test_without_a_choice_the_pages_are_english_and_the_checker_sees_it(svc, cast):
    async with spanish_client(svc, "none", cast.requester_a) as en:
        page = await en.get("/my-requests")
        with without_dev_login(svc):
            en.client.cookies.delete(SESSION_COOKIE)
            signed_out = await en.get("/my-requests")
    for english in (page, signed_out):
        assert read(english.text).html_lang == "en"
        assert english_left(english.text)  # the Spanish check is able to fail
    assert "Send request" in page.text and "Please sign in" in signed_out.text


async def test_lang_sets_a_year_long_lax_cookie_and_english_switches_back(svc, cast):
    async with spanish_client(svc, "accept-language", cast.requester_a) as es:
        r = await es.get("/my-requests?lang=en")
        cookie = r.headers["set-cookie"]
        assert "pur_lang=en" in cookie and "Max-Age=31536000" in cookie and "SameSite=lax" in cookie
        assert "Path=/" in cookie and "HttpOnly" in cookie
        assert read(r.text).html_lang == "en"  # ?lang beats Accept-Language
        es.client.cookies.set(i18n.COOKIE, "en")
        assert read((await es.get("/my-requests")).text).html_lang == "en"  # the cookie does too
        switch = {a.get("lang"): a for a in read(r.text).links if a.get("hreflang")}
        assert switch["es"].get("href") == "/my-requests?lang=es" and switch["en"].get("aria-current") == "true"
        assert ">Español<" in r.text and ">English<" in r.text


@pytest.mark.parametrize("lang, accept", [("xx", None), ("<script>alert(1)</script>", None), ("", None),
                                          (None, "garbage;q=zz, ,;;=="), (None, "x" * 5000),
                                          (None, "es;q=0, fr"), (None, "*;q=0.5, \u00e9\u00e9")])
async def test_hostile_language_values_fall_back_to_english(svc, cast, lang, accept):
    headers = {"Accept-Language": accept.encode()} if accept else {}  # raw bytes, not only ASCII
    async with spanish_client(svc, "none", cast.requester_a) as en:
        r = await en.client.get("/my-requests", params={"lang": lang} if lang is not None else None, headers=headers)
    assert r.status_code == 200
    assert read(r.text).html_lang == "en" and i18n.COOKIE not in r.headers.get("set-cookie", "")
    assert "<script>alert" not in r.text


async def test_staff_pages_stay_english_whatever_the_language(svc, cast):
    async with spanish_client(svc, "cookie", cast.manager_a) as es:
        page = await es.client.get("/manage-requests", headers=SPANISH)
    assert page.status_code == 200 and read(page.text).html_lang == "en"
    assert not [link for link in read(page.text).links if link.get("hreflang")]


async def test_concurrent_pages_in_both_languages_keep_their_own(svc, cast):
    async with spanish_client(svc, "none", cast.requester_a) as client:
        async def one(lang: str) -> tuple[str, str]:
            r = await client.client.get("/my-requests", headers={"Accept-Language": lang})
            return lang, r.text

        results = await asyncio.gather(*(one("es" if i % 2 else "en") for i in range(12)))
    for lang, text in results:
        assert read(text).html_lang == lang
        assert ("Enviar solicitud" in text) == (lang == "es") and ("Send request" in text) == (lang == "en")
