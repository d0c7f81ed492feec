"""Validation and comparison of requested values."""
from __future__ import annotations

import pytest
from requests_service.domain.changes import clean_note, clean_value, same_value
from requests_service.domain.errors import InvalidChange


@pytest.mark.parametrize(("field", "raw", "stored"), [
    ("email", " Ada@Example.ORG ", "Ada@example.org"),
    ("phone", "+1 (555) 555-0100", "+15555550100"),
    ("sms", "+44.20.7946.0958", "+442079460958"),
    ("given_name", "  Ada  ", "Ada"),
    ("family_name", "Lovelace-Byron", "Lovelace-Byron"),
])
def test_valid_values_are_stored_in_a_canonical_form(field, raw, stored):
    assert clean_value(field, raw) == stored


@pytest.mark.parametrize(("field", "raw"), [
    ("email", "ada"), ("email", "ada@"), ("email", "a" * 250 + "@x.org"),
    ("phone", "5555550100"), ("phone", "+0555550100"), ("phone", "+1555"), ("phone", "+1" + "5" * 15),
    ("sms", "+1 555 CALL NOW"),
    ("given_name", ""), ("given_name", "x" * 101), ("given_name", "Ada\nLovelace"), ("family_name", "A\x07"),
])
def test_invalid_values_name_their_field(field, raw):
    with pytest.raises(InvalidChange) as caught:
        clean_value(field, raw)
    assert caught.value.field == field


def test_comparison_ignores_email_case_and_phone_punctuation_but_not_name_case():
    assert same_value("email", "ADA@example.org", "ada@EXAMPLE.org")
    assert same_value("phone", "+1 (555) 555-0100", "+15555550100")
    assert same_value("given_name", "Ada  Mary", "Ada Mary")
    assert not same_value("family_name", "mcdonald", "McDonald")
    assert not same_value("sms", None, "+15555550100")


def test_a_note_keeps_line_breaks_but_not_nul_characters():
    assert clean_note("line one\nline two\tend") == "line one\nline two\tend"
    with pytest.raises(InvalidChange, match="NUL"):
        clean_note("before\x00after")


def test_a_note_is_trimmed_bounded_and_blank_means_none():
    assert clean_note("  hi  ") == "hi"
    assert clean_note("   ") is None
    assert clean_note("x" * 2000) == "x" * 2000
    with pytest.raises(InvalidChange):
        clean_note("x" * 2001)
