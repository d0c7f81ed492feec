"""The reader against hostile or broken exports: blank-line floods, endless files, decompression
bombs, a caller that stops the parse, and values that must not enter the directory."""
from __future__ import annotations

import pytest
from sis_sync_service.adapters.oneroster import RosterStructureError, RowError, open_roster
from sis_sync_service.adapters.oneroster import reader as reader_module

from .test_oneroster_reader import ORGS, USERS_HEADER, export, read, user_line, zip_of


def users_of(users_csv: str, **limits) -> tuple[list, list]:
    _, found, warnings = read(export(users_csv), **limits)
    return found, warnings


def test_blank_lines_are_skipped_a_run_at_a_time_and_line_numbers_stay_physical():
    users = (USERS_HEADER + "\r\n" + user_line("u1") + "\r\n" + "\r\n" * 3_000_000 + user_line("u2") + "\n"
             + "\n" * 2_000_000 + user_line("u3") + "\r" + "\r" * 5 + user_line("u4"))
    with open_roster(zip_of(export(users))) as roster:
        assert roster.estimate_rows("users.csv") == 4
        assert [(u.sourced_id, u.line) for u in roster.users({"s1"})] == [
            ("u1", 2), ("u2", 3_000_003), ("u3", 5_000_004), ("u4", 5_000_010)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_rows_and_lines_do_not_depend_on_where_chunks_end(monkeypatch, chunk):
    users = (USERS_HEADER + "\r\n\r\n" + user_line("u1", given='"An\r\n\r\nn"') + "\r\n\n\r\r\n"
             + user_line("u2") + ',"x\n\ny"\r\n' + user_line("u3") + "\r")
    expected, _ = users_of(users)
    monkeypatch.setattr(reader_module, "CHUNK_CHARS", chunk)
    found, _ = users_of(users)
    lines = [(type(u).__name__, u.sourced_id, u.line) for u in found]
    assert lines == [(type(u).__name__, u.sourced_id, u.line) for u in expected]
    assert lines == [("RowError", "u1", 3), ("UserRecord", "u2", 9), ("UserRecord", "u3", 12)]


def test_a_file_with_more_rows_than_the_limit_is_refused_naming_the_file():
    rows = "\n".join(user_line(f"u{i}") for i in range(11))
    found, _ = users_of(USERS_HEADER + "\n" + rows + "\n" + "\n" * 1000, max_rows=11)
    assert len(found) == 11
    with pytest.raises(RosterStructureError, match="users.csv: more than 10 rows"):
        users_of(USERS_HEADER + "\n" + rows + "\n", max_rows=10)
    orgs = ORGS + "".join(f"x{i},,,X,school,,d1\n" for i in range(3))
    with pytest.raises(RosterStructureError, match="orgs.csv: more than 5 rows"):
        read(export(USERS_HEADER + "\n" + user_line() + "\n", **{"orgs.csv": orgs}), max_rows=5)


def test_rows_of_empty_cells_count_towards_the_limit_and_the_estimate_stops_there():
    users = USERS_HEADER + "\n" + user_line("u1") + "\n" + ",,,\n" * 5000
    with open_roster(zip_of(export(users)), max_rows=100) as roster:
        assert roster.estimate_rows("users.csv") == 101
        with pytest.raises(RosterStructureError, match="more than 100 rows"):
            list(roster.users({"s1"}))


def test_a_member_that_inflates_past_the_ratio_is_refused_but_small_ones_never_are():
    flood = USERS_HEADER + "\n" + user_line("u1") + "\n" + "\n" * 3_000_000
    with open_roster(zip_of(export(flood)), max_ratio=100) as roster:
        with pytest.raises(RosterStructureError, match="users.csv: would decompress to [0-9]+ times"):
            roster.estimate_rows("users.csv")
        with pytest.raises(RosterStructureError, match="decompression bomb"):
            list(roster.users({"s1"}))
    small = USERS_HEADER + "\n" + user_line("u1") + "\n" + "\n" * 500_000   # under 1 MiB
    found, _ = users_of(small, max_ratio=100)
    assert [u.sourced_id for u in found] == ["u1"]


def test_an_endless_line_is_refused_instead_of_filling_memory():
    with pytest.raises(RosterStructureError, match="users.csv: line 2 is longer than"):
        users_of(USERS_HEADER + "\n" + "x" * (reader_module.MAX_LINE_CHARS + 10))


class Stop(Exception):
    pass


def test_a_checkpoint_that_raises_stops_a_parse_between_chunks():
    calls = []

    def checkpoint():
        calls.append(1)
        if len(calls) > 3:
            raise Stop

    users = USERS_HEADER + "\n" + "\n".join(user_line(f"u{i}") for i in range(100_000)) + "\n"
    parsed = []
    with open_roster(zip_of(export(users)), checkpoint=checkpoint) as roster, pytest.raises(Stop):
        for user in roster.users({"s1"}):
            parsed.append(user)
    assert 0 < len(parsed) < 100_000


EVIL = {
    "a quoted CRLF": ("given", '"Eve\r\nBcc: x@evil.example"', "givenName", "U+000D"),
    "a bare LF": ("family", '"Mallory\nBcc: y@evil.example"', "familyName", "U+000A"),
    "a right-to-left override": ("given", "Eve\u202enimda", "givenName", "U+202E"),
    "a NUL in an email": ("email", "eve\x00@x.org", "email", "U+0000"),
    "an isolate in an agent id": ("agents", '"p1,p\u20662"', "agentSourcedIds", "U+2066"),
    "a line separator": ("family", "Lee\u2028Bcc", "familyName", "U+2028"),
}


@pytest.mark.parametrize("column, value, named, code_point", EVIL.values(), ids=EVIL.keys())
def test_a_value_with_a_control_or_bidi_character_refuses_its_row_naming_the_column_not_the_value(
        column, value, named, code_point):
    users = "\n".join([USERS_HEADER, user_line("u1", **{column: value}), user_line("u2")]) + "\n"
    found, warnings = users_of(users)
    [error] = [e for e in found if isinstance(e, RowError)]
    assert (error.file, error.line, error.sourced_id) == ("users.csv", 2, "u1")
    assert error.message == (f"{named} contains a control, line-separator or bidirectional-override "
                             f"character ({code_point})")
    assert [u.sourced_id for u in found if not isinstance(u, RowError)] == ["u2"]
    assert "Bcc" not in error.message + " ".join(warnings)


def test_overlong_names_and_emails_are_refused_and_surrounding_whitespace_is_not_a_control_character():
    users = "\n".join([USERS_HEADER, user_line("u1", given="A" * 201), user_line("u2", email="e" * 250 + "@x.org"),
                       user_line("u3", given='" Ann\t"', family='"Lee\r\n"'), user_line("u4", given="A" * 200)]) + "\n"
    found, _ = users_of(users)
    assert [(e.line, e.message) for e in found if isinstance(e, RowError)] == [
        (2, "givenName is longer than 200 characters"), (3, "email is longer than 254 characters")]
    assert [(u.sourced_id, u.given_name, u.family_name) for u in found if not isinstance(u, RowError)] == [
        ("u3", "Ann", "Lee"), ("u4", "A" * 200, "Lee")]


def test_an_org_with_a_control_character_in_its_name_is_refused_and_odd_org_ids_are_never_echoed():
    orgs = ORGS + 's3,,,"Evil\r\nSchool",school,,"d\x1b[2J"\n'
    users = "\n".join([USERS_HEADER, user_line("u1", orgs='"s1,x\x1b[31m"'), user_line("u2", orgs="\x07bell")]) + "\n"
    found_orgs, found_users, warnings = read(export(users, **{"orgs.csv": orgs}))
    [refused] = [o for o in found_orgs if isinstance(o, RowError)]
    assert (refused.line, refused.sourced_id) == (5, "s3")
    assert refused.message.startswith("name contains a control")
    assert [(e.line, e.message) for e in found_users if isinstance(e, RowError)] == [
        (3, "references unknown org (not a valid sourcedId)")]
    assert "users.csv line 2: unknown org (not a valid sourcedId) ignored (and on any later row)" in warnings
    assert not any("\x1b" in w or "\x07" in w for w in warnings)
