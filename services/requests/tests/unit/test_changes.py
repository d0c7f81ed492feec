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


def test_a_note_keeps_line_breaks_and_tabs_but_no_other_control_or_bidi_characters():
    assert clean_note("line one\r\nline two\tend\nthree") == "line one\r\nline two\tend\nthree"
    for char in ("\x00", "\x07", "\x1b", "\x7f", "\x85", "\u2028", "\u202a", "\u202e", "\u2066", "\u2069"):
        with pytest.raises(InvalidChange, match="control characters") as caught:
            clean_note(f"before{char}after")
        assert caught.value.field == "note", repr(char)


@pytest.mark.parametrize("field", ["given_name", "family_name"])
@pytest.mark.parametrize("raw", ["Eve\r\nBcc: x@evil.example", "Eve\nX", "Eve\rX", "Eve\tX", "Eve\x00",
                                 "Eve\u202enimda", "Eve\u202dX", "Eve\u2066X\u2069", "Eve\u2028X", "Eve\x85X"])
def test_names_with_control_or_bidi_override_characters_are_refused_naming_the_field(field, raw):
    with pytest.raises(InvalidChange, match="bidirectional") as caught:
        clean_value(field, raw)
    assert caught.value.field == field


def test_names_in_right_to_left_scripts_with_direction_marks_are_accepted():
    assert clean_value("given_name", "\u05d3\u05e0\u05d4\u200f") == "\u05d3\u05e0\u05d4\u200f"
    assert clean_value("family_name", "\u0639\u0644\u064a") == "\u0639\u0644\u064a"


def test_a_note_is_trimmed_bounded_and_blank_means_none():
    assert clean_note("  hi  ") == "hi"
    assert clean_note("   ") is None
    assert clean_note("x" * 2000) == "x" * 2000
    with pytest.raises(InvalidChange):
        clean_note("x" * 2001)
