"""My contact details words sis_sync's refusals itself, by field and by the rule the value breaks,
in the page's language (sis_sync's English messages stay in its JSON API)."""
from __future__ import annotations

import pytest
from requests_service.entrypoints import i18n
from requests_service.entrypoints.ui_account import LIMITS, contact_error

ENGLISH, SPANISH = i18n.translations("en"), i18n.translations("es")


@pytest.mark.parametrize("field, value, english, spanish", [
    ("email", "not-an-email", "Enter a valid email address, like name@example.org.",
     "Ingrese un correo electrónico válido, como nombre@ejemplo.org."),
    ("phone", "12345", "Enter the number in international format: + and the country code, like +15555550123.",
     "Ingrese el número en formato internacional"),
    ("sms", "+1555\u202e0123", "Remove line breaks and special characters (control or text-direction characters).",
     "Quite los saltos de línea"),
    ("email", "a" * 250 + "@x.org", "Use at most 254 characters.", "Use como máximo 254 caracteres."),
    ("sms", "1" * 33, "Use at most 32 characters.", "Use como máximo 32 caracteres."),
    ("body", "", "Check this value.", "Revise este dato."),
])
def test_each_refusal_is_worded_by_field_and_rule_in_both_languages(field, value, english, spanish):
    assert contact_error(field, value, ENGLISH) == english
    assert contact_error(field, value, SPANISH).startswith(spanish)


def test_the_length_rule_comes_first_as_in_sis_sync():
    too_long_and_refused = "\u202e" * (LIMITS["phone"] + 1)
    assert contact_error("phone", too_long_and_refused, ENGLISH) == "Use at most 32 characters."
