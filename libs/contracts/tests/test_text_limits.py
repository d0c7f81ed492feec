import copy
from uuid import uuid4

import pytest
from pydantic import ValidationError

from pur_contracts import (
    DirectorySchool,
    DirectoryUser,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
    RequestSnapshot,
    SettingsReplayRequested,
    UsersManagerScope,
)
from pur_contracts.base import has_unsafe_characters
from pur_contracts.schemas import breaking_changes, schema_of


def user(**overrides) -> dict:
    return {"id": str(uuid4()), "district_id": "springfield", "sis_id": "u-1", "role": "teacher",
            "given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org", "phone": "+15555550123",
            "school_ids": ["sch-1"], **overrides}


def refusal(model, data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


def test_a_plain_directory_user_is_accepted():
    assert DirectoryUser.model_validate(user()).given_name == "Ada"


@pytest.mark.parametrize("name", ["Eve\r\nBcc: x@evil.example", "Eve\nBcc: x@evil.example", "Eve\rX", "Eve\x00",
                                  "Eve\tTab", "Eve\x1b[31m", "Eve\x85", "Eve\u2028"])
def test_a_name_with_a_control_character_or_line_break_is_refused(name):
    assert refusal(DirectoryUser, user(given_name=name)) == [("given_name", "string_pattern_mismatch")]


@pytest.mark.parametrize("char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
                                  "\u2069"])
def test_a_name_with_a_bidirectional_override_or_isolate_is_refused(char):
    assert refusal(DirectoryUser, user(family_name=f"Eve{char}nimda")) == [("family_name", "string_pattern_mismatch")]


def test_right_to_left_names_and_direction_marks_are_accepted():
    # LRM/RLM only steer neighbouring neutral characters; real names from RTL systems carry them.
    accepted = DirectoryUser.model_validate(user(given_name="\u05d3\u05e0\u05d4\u200f", family_name="O\u200eBrien"))
    assert accepted.given_name == "\u05d3\u05e0\u05d4\u200f"


def test_a_ten_megabyte_name_is_refused():
    assert refusal(DirectoryUser, user(given_name="x" * 10_000_000)) == [("given_name", "string_too_long")]


def test_an_empty_name_is_refused():
    assert refusal(DirectoryUser, user(family_name="")) == [("family_name", "string_too_short")]


def test_a_name_at_the_limit_is_accepted_and_one_more_character_is_refused():
    assert DirectoryUser.model_validate(user(given_name="x" * 200))
    assert refusal(DirectoryUser, user(given_name="x" * 201)) == [("given_name", "string_too_long")]


def test_contact_and_identity_fields_are_bounded():
    assert refusal(DirectoryUser, user(email="a" * 250 + "@x.io")) == [("email", "string_too_long")]
    assert refusal(DirectoryUser, user(phone="5" * 65)) == [("phone", "string_too_long")]
    assert refusal(DirectoryUser, user(sms="+1555\n")) == [("sms", "string_pattern_mismatch")]
    assert refusal(DirectoryUser, user(sis_id="s" * 256)) == [("sis_id", "string_too_long")]
    assert refusal(DirectoryUser, user(role="r" * 65)) == [("role", "string_too_long")]
    assert refusal(DirectoryUser, user(school_ids=["ok", "bad\r\n"])) == [("school_ids.1", "string_pattern_mismatch")]
    assert refusal(DirectoryUser, user(school_ids=[f"s{i}" for i in range(1001)])) == [
        ("school_ids", "too_long")]


def test_a_district_id_with_control_characters_is_refused_in_every_nested_model():
    bad = "\u0007bell\r\ninjected"
    assert refusal(DirectoryUser, user(district_id=bad)) == [("district_id", "string_pattern_mismatch")]
    assert refusal(DirectorySchool, {"id": "s1", "district_id": bad, "name": "North"}) == [
        ("district_id", "string_pattern_mismatch")]
    assert refusal(DistrictSettings, {"district_id": bad, "version": 1}) == [
        ("district_id", "string_pattern_mismatch")]
    assert refusal(SettingsReplayRequested, {"district_id": bad, "requested_by": "requests"}) == [
        ("district_id", "string_pattern_mismatch")]
    assert SettingsReplayRequested(district_id=None, requested_by="requests").district_id is None


def test_an_event_names_the_nested_field_that_broke_the_rule():
    body = DirectoryUserUpserted(district_id="springfield", version=1,
                                 user=DirectoryUser.model_validate(user())).model_dump(mode="json")
    body["user"]["given_name"] = "Eve\r\nBcc: x@evil.example"
    assert refusal(DirectoryUserUpserted, body) == [("user.given_name", "string_pattern_mismatch")]


def test_settings_values_are_bounded():
    base = {"district_id": "springfield", "version": 1}
    assert refusal(DistrictSettings, {**base, "notifications": {"digest_local_time": "7:00\n"}}) == [
        ("notifications.digest_local_time", "string_pattern_mismatch")]
    assert refusal(DistrictSettings, {**base, "notifications": {"timezone": "Europe/" + "x" * 100}}) == [
        ("notifications.timezone", "string_too_long")]
    assert refusal(DistrictSettings, {**base, "updated_by": "system\r\n"}) == [
        ("updated_by", "string_pattern_mismatch")]


def test_request_snapshots_bound_the_requester_name_schools_and_fields():
    snapshot = {"id": str(uuid4()), "district_id": "springfield", "requester_id": str(uuid4()),
                "requester_name": "Ada Lovelace", "school_ids": ["sch-1"], "status": "new", "fields": ["email"],
                "has_note": False, "appears_applied": False, "submitted_at": "2024-01-01T00:00:00Z"}
    assert RequestSnapshot.model_validate({**snapshot, "requester_name": "x" * 401})
    assert refusal(RequestSnapshot, {**snapshot, "requester_name": "x" * 402}) == [
        ("requester_name", "string_too_long")]
    assert refusal(RequestSnapshot, {**snapshot, "requester_name": "Ada\u202eecalovoL"}) == [
        ("requester_name", "string_pattern_mismatch")]
    assert refusal(RequestSnapshot, {**snapshot, "fields": ["email"] * 6}) == [("fields", "too_long")]
    assert refusal(RequestSnapshot, {**snapshot, "done_by": "u" * 65}) == [("done_by", "string_too_long")]


def test_manager_scopes_bound_their_school_ids():
    assert refusal(UsersManagerScope, {"scope": "schools", "school_ids": ["x" * 256]}) == [
        ("school_ids.0", "string_too_long")]


def test_the_multiline_check_allows_line_breaks_and_tabs_only():
    assert not has_unsafe_characters("Dear office,\r\n\tplease fix it.", multiline=True)
    assert has_unsafe_characters("line\nbreak")
    for char in ("\x00", "\x07", "\x7f", "\x85", "\u2028", "\u202e", "\u2066"):
        assert has_unsafe_characters(f"note{char}", multiline=True), repr(char)


def test_added_length_and_character_constraints_are_a_compatible_change():
    # A tighter value rule needs no schema_version bump: every producer in this repository already
    # respects it, and a message from before that breaks it is dead-lettered with the field named.
    new = schema_of(DistrictSettingsChanged)
    old = copy.deepcopy(new)
    for key in ("maxLength", "minLength", "pattern"):
        old["$defs"]["NotificationSettings"]["properties"]["timezone"].pop(key, None)
        old["properties"]["district_id"].pop(key, None)
    assert old != new
    assert breaking_changes(old, new) == []
