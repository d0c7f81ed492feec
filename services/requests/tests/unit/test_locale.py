"""Choosing the page's language (Accept-Language, its q-values, hostile values), dates in that
language, and the page's wording of every refusal the domain can raise."""
from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from requests_service.domain.errors import InvalidChange
from requests_service.entrypoints import i18n
from requests_service.entrypoints.ui_mine import FIELD_LABELS, REFUSALS, form_error

DOMAIN = Path(i18n.__file__).resolve().parents[1] / "domain"


@pytest.mark.parametrize(("header", "expected"), [
    ("es-MX,es;q=0.9", ["es-mx", "es"]),
    ("en;q=0.5, es-419;q=0.8, fr", ["fr", "es-419", "en"]),        # by q-value, highest first
    ("de, es, en", ["de", "es", "en"]),                             # ties keep the header's order
    ("es;q=0, en", ["en"]),                                         # q=0: not acceptable
    ("es;q=0.000, EN-gb;Q=1.000", ["en-gb"]),                       # case-insensitive, 3 decimals
    ("es;q=1.5, en;q=-1, fr;q=abc, de;q=0.0001", []),               # malformed q-values
    ("<script>, es_ES, e$, ;q=1, , ,", []),                         # malformed tags
    ("*", ["*"]),
    ("", []), (None, []),
    ("es," * 600, []),                                              # oversized: ignored
])
def test_accept_language_is_parsed_with_its_q_values(header, expected):
    assert i18n.parse_accept_language(header) == expected


@pytest.mark.parametrize(("header", "language"), [
    ("es-MX,es;q=0.9", "es"), ("es-419", "es"), ("ES", "es"), ("fr, es;q=0.5", "es"),
    ("en-US,en;q=0.9,es;q=0.8", "en"), ("es;q=0.4, en;q=0.6", "en"), ("es;q=0, en", "en"),
    ("fr, de", "en"), ("*", "en"), ("", "en"), (None, "en"), ("\x00\xff;q=\u00e9", "en"), ("es;q=zz", "en"),
])
def test_the_language_is_spanish_only_when_preferred_over_english_else_english(header, language):
    assert i18n.from_accept_language(header) == language


def test_an_unsupported_language_has_no_catalogue():
    with pytest.raises(ValueError):
        i18n.translations("xx")


def _plain(text: str) -> str:
    return " ".join(text.split())  # CLDR puts (narrow) no-break spaces before a.m./p.m.


def test_dates_are_written_in_the_page_language_and_zone():
    moment = datetime(2026, 11, 30, 17, 5, tzinfo=UTC)
    assert _plain(i18n.format_when(moment, "es", "America/Chicago")) == "30 nov 2026, 11:05 a.m. CST"
    assert _plain(i18n.format_when(moment, "es")) == "30 nov 2026, 5:05 p.m. UTC"
    assert _plain(i18n.format_when(moment, "en", "America/New_York")) == "Nov 30, 2026, 12:05 PM EST"
    assert _plain(i18n.format_when(moment, "es", "Not/AZone")).endswith("p.m. UTC")   # unknown zone: UTC
    assert i18n.format_when(None, "es") == "" and i18n.format_when("2026-11-30", "es") == ""


def _domain_messages() -> set[str]:
    """Every message an `InvalidChange(field, message)` of the domain can carry; an f-string's
    values are read as 100 (the limits it interpolates)."""
    found = set()
    for source in DOMAIN.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InvalidChange":
                message = node.args[1]
                if isinstance(message, ast.Constant):
                    found.add(message.value)
                elif isinstance(message, ast.JoinedStr):
                    found.add("".join(part.value if isinstance(part, ast.Constant) else "100"
                                      for part in message.values))
                else:
                    raise AssertionError(f"{source.name}: an InvalidChange message that is not a literal")
    return found


def test_every_refusal_of_the_domain_has_its_own_page_message_in_both_languages():
    messages = _domain_messages()
    assert len(messages) >= 8, messages
    generic = {i18n.translations(lang).gettext("Check this value.") for lang in i18n.LANGUAGES}
    for message in messages:
        for lang in i18n.LANGUAGES:
            shown = form_error(InvalidChange("email", message), i18n.translations(lang)).message
            assert shown not in generic, message
            assert shown[0].isupper() and shown.endswith("."), shown   # sentence case, a sentence
    assert form_error(InvalidChange("email", "something new"), i18n.translations("es")).message == "Revise este dato."


def test_limits_use_plural_forms():
    spanish = i18n.translations("es")
    assert form_error(InvalidChange("note", "at most 2000 characters"), spanish).message == (
        "Use como máximo 2000 caracteres.")
    assert form_error(InvalidChange("note", "at most 1 characters"), spanish).message == (
        "Use como máximo 1 carácter.")
    assert form_error(InvalidChange("note", "at most 1 characters"), i18n.translations("en")).message == (
        "Use at most 1 character.")


def test_field_errors_name_their_field_and_a_whole_form_error_points_at_the_first_field():
    spanish = i18n.translations("es")
    assert form_error(InvalidChange("sms", "equal to the current value"), spanish).field == "sms"
    assert form_error(InvalidChange("note", "at most 2000 characters"), spanish).field == "note"
    whole = form_error(InvalidChange("changes", "ask for at least one change or write a note"), spanish)
    assert whole.field is None and whole.anchor == "f-given_name"


def test_both_reasons_for_a_disabled_feature_are_translated():
    from requests_service.domain import model

    assert set(REFUSALS) == {model.DISABLED_SIS_OWNS_CONTACTS, model.DISABLED_SELF_SERVICE}
    spanish = i18n.translations("es")
    for reason, english in REFUSALS.items():
        assert english == reason   # a reworded reason in the domain needs its new translation
        assert spanish.gettext(english) != english


def test_the_page_labels_are_the_domain_labels():
    from requests_service.domain.changes import LABELS

    assert {field: label for field, label in FIELD_LABELS.items() if field != "note"} == LABELS
