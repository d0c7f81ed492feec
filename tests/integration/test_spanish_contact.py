"""My contact details in Spanish: editable, refused by sis_sync (422) and read-only while the SIS
owns contact details, against the four services as real processes; the English page alongside.

"No English is left" is the requests service's own check (services/requests/tests/integration/
test_spanish.py: no visible text is an English msgid of the catalogue, plus a backstop of English
words), loaded from that file so both pages are held to the same rule.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import httpx
from pur_kit.testing import wait_until

from .test_end_to_end import DISTRICT
from .test_staff_app import csrf_of, eventually_html, people, signed_in

_CHECKER = Path(__file__).resolve().parents[2] / "services/requests/tests/integration/test_spanish.py"
_spec = importlib.util.spec_from_file_location("requests_spanish_checker", _CHECKER)
spanish_checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spanish_checker)
read, english_left = spanish_checker.read, spanish_checker.english_left

SPANISH = {"Accept-Language": "es-MX,es;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
BAD_EMAIL_ES = "Ingrese un correo electrónico válido, como nombre@ejemplo.org."


def assert_spanish(page: httpx.Response) -> None:
    assert read(page.text).html_lang == "es", page.text[:200]
    assert english_left(page.text) == [], page.text


async def settle_settings(sys_, admin: dict, body: dict) -> None:
    """PATCH the district's settings once the settings service knows `admin` is one (the grant
    travels as an event)."""
    async def patched() -> bool:
        r = await sys_.client.patch(f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings", json=body,
                                    headers=sys_.person_headers(admin))
        assert r.status_code in (200, 403), r.text
        return r.status_code == 200

    await wait_until(patched, timeout=20, message="the settings service to know the district administrator")


def field_tag(html: str, field: str) -> str:
    return re.search(rf'<input id="c-{field}"[^>]*>', html.replace("\n", " ")).group(0)


async def test_my_contact_details_are_spanish_editable_refused_and_read_only(system, tmp_path):
    sys_ = system
    cast = await people(sys_, tmp_path)
    await settle_settings(sys_, cast["admin"], {"profile_update_requests_enabled": True,
                                               "sis_sync": {"contact_details_auto_update": False}})

    async with signed_in(sys_, cast["student"]) as student:
        student.headers.update(SPANISH)
        # --- editable -------------------------------------------------------------------------------
        html = await eventually_html(student, "/my-contact", "Guardar datos de contacto",
                                     message="the editable page in Spanish")
        page = await student.get("/my-contact")
        assert_spanish(page)
        for label in ("Correo electrónico", "Teléfono", "Número para SMS"):
            assert f">{label}</label>" in page.text
        assert "<legend>Datos de contacto</legend>" in page.text and "Deje un campo vacío para quitarlo." in page.text
        assert page.text.count("Con el código de país, por ejemplo +15555550123.") == 2

        # the same page in English is the English page (and the checker sees it)
        english = await student.get("/my-contact", headers=ENGLISH)
        assert read(english.text).html_lang == "en" and english_left(english.text)
        assert ">Save contact details</button>" in english.text and ">SMS number</label>" in english.text

        # --- 422: a bad email, worded here, next to its field and linked from the banner -----------
        form = {"csrf": csrf_of(html), "email": "no-es-un-correo", "phone": "", "sms": ""}
        r = None

        async def refused() -> bool:  # once sis_sync, too, knows the SIS no longer owns them
            nonlocal r
            r = await student.post("/my-contact", data=form)
            return r.status_code == 422

        await wait_until(refused, timeout=20, message="a bad email refused by sis_sync")
        assert_spanish(r)
        assert "Sus datos de contacto no se guardaron. Corrija lo siguiente:" in r.text
        assert f'<a href="#c-email">Correo electrónico: {BAD_EMAIL_ES}</a>' in r.text
        assert f'<p class="field-error" id="c-email-error">{BAD_EMAIL_ES}</p>' in r.text
        email = field_tag(r.text, "email")
        assert 'aria-invalid="true"' in email and 'aria-describedby="c-email-error"' in email
        assert 'value="no-es-un-correo"' in email and r.text.count('aria-invalid="true"') == 1

        # every other rule sis_sync applies, by field
        cases = [({"sms": "12345"}, "sms", "Ingrese el número en formato internacional"),
                 ({"phone": "+1555\u202e0123"}, "phone", "Quite los saltos de línea"),
                 ({"email": "a" * 250 + "@x.org"}, "email", "Use como máximo 254 caracteres.")]
        for values, field, expected in cases:
            r = await student.post("/my-contact", data={**form, "email": "", **values})
            assert r.status_code == 422, values
            assert_spanish(r)
            assert f'id="c-{field}-error">{expected}' in r.text, values
            assert 'aria-invalid="true"' in field_tag(r.text, field)

        # in English, the same refusal is worded in English
        r = await student.post("/my-contact", data=form, headers=ENGLISH)
        assert r.status_code == 422 and read(r.text).html_lang == "en"
        assert 'id="c-email-error">Enter a valid email address, like name@example.org.</p>' in r.text

        # saved: the flash message is Spanish
        r = await student.post("/my-contact", data={**form, "email": "nino@example.org"})
        assert r.status_code == 303, r.text
        page = await student.get("/my-contact")
        assert_spanish(page)
        assert "Se guardaron sus datos de contacto." in page.text and 'value="nino@example.org"' in page.text

    # --- read-only while the SIS owns contact details ---------------------------------------------
    await settle_settings(sys_, cast["admin"], {"sis_sync": {"contact_details_auto_update": True}})
    async with signed_in(sys_, cast["manager"]) as manager:
        manager.headers.update(SPANISH)
        await eventually_html(manager, "/my-contact", "no se pueden cambiar aquí",
                              message="the read-only page in Spanish")
        page = await manager.get("/my-contact")
        assert_spanish(page)
        assert "pida a la oficina de su escuela" in page.text and "<form" not in page.text.split("<main", 1)[-1]
        assert "<dt>Correo electrónico</dt>" in page.text and "<dt>Número para SMS</dt>" in page.text
        english = await manager.get("/my-contact", headers=ENGLISH)
        assert read(english.text).html_lang == "en" and "cannot be edited here" in english.text
