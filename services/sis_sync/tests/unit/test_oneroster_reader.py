import io
import struct
import zipfile

import pytest
from sis_sync_service.adapters.oneroster import RosterStructureError, RowError, UserRecord, open_roster

MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\nfile.orgs,bulk\n"
ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nd1,,,District,district,,\ns1,,,North,school,,d1\ns2,,,South,school,,d1\n"
USERS_HEADER = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
USERS_121_HEADER = ("sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,"
                    "identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,preferredGivenName,"
                    "preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns")
ROLES_HEADER = "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId"


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content if isinstance(content, bytes) else content.encode())
    return buffer.getvalue()


def read(files: dict, **limits) -> tuple[list, list, list[str]]:
    with open_roster(zip_of(files), **limits) as roster:
        orgs = list(roster.orgs())
        users = list(roster.users({o.sourced_id for o in orgs if not isinstance(o, RowError)}))
        return orgs, users, roster.warnings


def export(users: str, **extra) -> dict:
    return {"manifest.csv": MANIFEST, "orgs.csv": ORGS, "users.csv": users, **extra}


def user_line(sourced_id="u1", *, enabled="true", orgs="s1", role="student", given="Ann", family="Lee", status="",
              email="", agents="", grades="", identifier="") -> str:
    return (f"{sourced_id},{status},,{enabled},{orgs},{role},,,{given},{family},,{identifier},{email},,,"
            f"{agents},{grades},")


def test_bom_crlf_and_a_quoted_field_with_a_comma_and_a_newline_keep_line_numbers_right():
    users = ("\ufeff" + USERS_HEADER + ",metadata.note\r\n"
             'u1,,,true,s1,student,,,Ann,Lee,,,a@x.org,,,,09,,"a, b\r\nc"\r\n'
             "u2,,,true,s2,teacher,,,Bo,Ng,,,,,,,,,\r\n"
             'u3,,,true,s2,teacher,,,Cy,Ng,,,,,,,,,"x\r\n\r\ny"\r\n'
             "u4,,,true,s2,teacher,,,Di,Ng,,,,,,,,,\r\n")
    _, records, _ = read(export(users))
    assert [(u.sourced_id, u.line) for u in records] == [("u1", 2), ("u2", 4), ("u3", 5), ("u4", 8)]
    assert records[0].email == "a@x.org" and records[0].grades == ("09",)


def test_lf_line_ends_without_a_final_newline_read_like_crlf():
    users = USERS_HEADER + "\n" + user_line("u1") + "\n\n" + user_line("u2")
    _, records, _ = read(export(users))
    assert [(u.sourced_id, u.line) for u in records] == [("u1", 2), ("u2", 4)]


def test_multi_valued_orgs_with_spaces_role_case_and_unknown_roles_are_normalised():
    users = (USERS_HEADER + "\n"
             'u1,,,true," s1 , s2,, ",TEACHER,,,Ann,Lee,,,,,,,,\n'
             "u2,,,true,s1,ext:Coach,,,Bo,Ng,,,,,,,,\n"
             "u3,,,true,s1,Student,,,Cy,Ng,,,,,,,,\n"
             "u4,,,true,s1,principal,,,Di,Ng,,,,,,,,\n")
    _, (teacher, coach, student, principal), warnings = read(export(users))
    assert teacher.org_sourced_ids == ("s1", "s2") and teacher.role == "teacher"
    assert (coach.role, student.role, principal.role) == ("staff", "student", "administrator")
    assert [w for w in warnings if "unknown role" in w] == ["users.csv line 3: unknown role 'ext:Coach' mapped to staff"]


def test_columns_are_mapped_by_name_whatever_their_order_aliases_and_extras():
    users = ("givenName,familyName,sourceID,role,orgSourcedIds,userId,agents,ext_custom,metadata.x,surprise,Data_Last_Modified\n"
             "Ann,Lee,u1,parent,s1,ldap:1,u2,,,?,\n"
             "Bo,Lee,u2,Student,s1,,,,,,\n")
    _, records, warnings = read(export(users))
    assert [(u.sourced_id, u.role, u.agent_sourced_ids) for u in records] == [("u1", "parent", ("u2",)), ("u2", "student", ())]
    assert warnings == ["users.csv: ignored unknown columns surprise"]


def test_a_column_under_its_own_name_wins_over_an_alias_of_it():
    users = "sourceID,givenName,familyName,role,orgSourcedIds,sourcedId,prefferedGivenName\nlegacy 1,Ann,Lee,student,s1,u1,\n"
    _, (user,), _ = read(export(users))
    assert user.sourced_id == "u1"


def test_bad_rows_are_rejected_with_file_line_and_reason_and_the_rest_imports():
    users = (USERS_HEADER + "\n"
             "u1,,,true,s1,student,,,Ann,Lee,,,,,,,,\n"
             "u1,,,true,s1,student,,,Ann,Again,,,,,,,,\n"
             "u3,,,true,nowhere,student,,,Cy,Lee,,,,,,,,\n"
             "u4,,,true,s1,student,,,,Lee,,,,,,,,\n"
             "u5,,,true,s1,student,,,Di,Lee,,,,,,,,\n"
             ",,,true,s1,student,,,Ed,Lee,,,,,,,,\n"
             "u7,,,true,s1,,,,Fa,Lee,,,,,,,,\n")
    _, results, _ = read(export(users))
    errors = [r for r in results if isinstance(r, RowError)]
    assert [(e.file, e.line) for e in errors] == [("users.csv", n) for n in (3, 4, 5, 7, 8)]
    assert "duplicate sourcedId u1 (first seen on line 2)" in errors[0].message
    assert "unknown org nowhere" in errors[1].message
    assert "givenName" in errors[2].message
    assert "sourcedId" in errors[3].message and "role" in errors[4].message
    assert [e.sourced_id for e in errors] == ["u1", "u3", "u4", None, "u7"]  # a rejected row is still present
    assert [r.sourced_id for r in results if isinstance(r, UserRecord)] == ["u1", "u5"]
    assert all("Lee" not in e.message and "Ann" not in e.message for e in errors)  # no personal data


def test_a_user_with_one_unknown_org_keeps_the_known_ones_and_it_is_reported_once():
    users = "\n".join([USERS_HEADER, user_line("u1", orgs='"gone,s1"'), user_line("u2", orgs='"s2, gone"')]) + "\n"
    _, (a, b), warnings = read(export(users))
    assert (a.org_sourced_ids, b.org_sourced_ids) == (("s1",), ("s2",))
    assert [w for w in warnings if "gone" in w] == ["users.csv line 2: unknown org gone ignored (and on any later row)"]


def test_invalid_and_overlong_sourced_ids_are_rejected_and_identifiers_stay_verbatim():
    users = "\n".join([USERS_HEADER, user_line("has space"), user_line("x" * 256), user_line("y" * 255),
                       user_line("{Local:015}", grades='" 09, KG ,"', identifier="007", agents='"007, {LDAP:1}"')])
    _, (space, long, ok, braces), _ = read(export(users + "\n"))
    assert isinstance(space, RowError) and "invalid sourcedId" in space.message and space.sourced_id is None
    assert isinstance(long, RowError) and "256" in long.message
    assert ok.sourced_id == "y" * 255
    assert (braces.sourced_id, braces.grades, braces.identifier) == ("{Local:015}", ("09", "KG"), "007")
    assert braces.agent_sourced_ids == ("007", "{LDAP:1}")


def test_enabled_user_and_status_are_read_leniently():
    values = [("TRUE", "Active"), ("yes", ""), ("1", "TobeDeleted"), ("", "inactive"), ("FALSE", ""), ("0", ""), ("no", "")]
    users = "\n".join([USERS_HEADER] + [user_line(f"u{i}", enabled=e, status=s) for i, (e, s) in enumerate(values)])
    _, records, _ = read(export(users + "\n"))
    assert [(u.enabled, u.status) for u in records] == [
        (True, "active"), (True, None), (True, "tobedeleted"), (True, "inactive"), (False, None), (False, None), (False, None)]


def test_empty_optional_columns_and_ragged_rows_are_fine():
    users = USERS_HEADER + "\nu1,,,,s1,student,,,Ann,Lee\nu2,,,false,s1,student,,,Bo,Ng,,,,,,,,,,\n"
    _, (a, b), _ = read(export(users))
    assert (a.enabled, a.email, a.phone, a.middle_name, a.grades, a.agent_sourced_ids) == (True, None, None, None, (), ())
    assert b.enabled is False


def test_cells_beyond_the_known_columns_never_fill_a_column_the_file_lacks():
    # users 1.1 has no primaryOrgSourcedId: neither extension cells nor an extra cell may stand in for it.
    users = (USERS_HEADER + ",metadata.a,metadata.b,metadata.c\n"
             + user_line("u1") + ",s2,s2,s2\n" + user_line("u2") + ",,,,s2\n")
    _, (a, b), _ = read(export(users))
    assert a.org_sourced_ids == b.org_sourced_ids == ("s1",)


def lying_zip(files: dict[str, str], liar: str, claimed: int) -> bytes:
    """A zip whose central directory understates `liar`'s uncompressed size."""
    data = bytearray(zip_of(files))
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length].decode() == liar:
            struct.pack_into("<I", data, at + 24, claimed)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


@pytest.mark.parametrize("data, message", [
    (b"plain text, not a zip", "not a zip"),
    (zip_of({"../evil.csv": "x"}), "unsafe path"),
    (zip_of({"/abs.csv": "x"}), "unsafe path"),
    (zip_of({"manifest.csv": MANIFEST, "orgs.csv": ORGS}), "users.csv is missing"),
    (zip_of({"manifest.csv": MANIFEST, "users.csv": USERS_HEADER + "\n"}), "orgs.csv is missing"),
    (zip_of(export("sourcedId,name\nu1,x\n")), "users.csv: wrong header: missing required column"),
    (zip_of(export("")), "users.csv: the file is empty or has no header row"),
    (zip_of(export(",,\n" + user_line() + "\n")), "no header row"),
    (zip_of({"notes.txt": "x"}), "no CSV files"),
    (lying_zip(export(USERS_HEADER + "\n" + user_line() * 2000), "users.csv", 100), "users.csv"),
])
def test_structurally_broken_exports_fail_as_a_whole(data, message):
    with pytest.raises(RosterStructureError, match=message):
        with open_roster(data) as roster:
            known = {o.sourced_id for o in roster.orgs()}
            list(roster.users(known))


def test_a_wrong_header_names_the_missing_columns_but_never_the_data_in_its_place():
    headerless = user_line("u1", given="Ann", family="Lee", email="ann@x.org")
    with pytest.raises(RosterStructureError) as failure, open_roster(zip_of(export(headerless + "\n"))) as roster:
        list(roster.users({"s1"}))
    assert "sourcedId" in str(failure.value) and "givenName" in str(failure.value)
    assert "Ann" not in str(failure.value) and "ann@x.org" not in " ".join(roster.warnings)


def test_a_path_that_is_neither_a_zip_nor_a_folder_is_refused(tmp_path):
    with pytest.raises(RosterStructureError, match="no such file"):
        open_roster(tmp_path / "missing.zip")
    (tmp_path / "plain.csv").write_text(ORGS)
    with pytest.raises(RosterStructureError, match="plain.csv: not a zip archive"):
        open_roster(tmp_path / "plain.csv")


def test_zip_bombs_and_entry_floods_are_refused():
    bomb = zip_of({**export(USERS_HEADER + "\n"), "padding.csv": "0" * 200_000})
    assert len(bomb) < 5_000
    with pytest.raises(RosterStructureError, match="decompress"):
        open_roster(bomb, max_uncompressed_bytes=100_000)
    flood = zip_of({f"f{i}.csv": "x" for i in range(70)})
    with pytest.raises(RosterStructureError, match="70 entries"):
        open_roster(flood, max_entries=64)


def test_the_streaming_guard_stops_a_member_that_decompresses_past_the_limit():
    users = USERS_HEADER + "\n" + (user_line() + "\n") * 2000   # ~100 kB, only ~1 kB compressed
    with pytest.raises(RosterStructureError, match="users.csv: the export decompresses to more than"):
        with open_roster(zip_of(export(users)), max_uncompressed_bytes=200_000) as roster:
            roster._budget = 50_000  # as if the declared sizes had passed the up-front check
            list(roster.users({"s1"}))


def test_csvs_in_one_top_level_folder_with_any_case_are_found_and_mac_debris_is_ignored():
    files = {"Export/MANIFEST.CSV": MANIFEST, "Export/Orgs.csv": ORGS,
             "Export/USERS.csv": USERS_HEADER + "\n" + user_line() + "\n",
             "__MACOSX/Export/._USERS.csv": b"\x00\x05\x16\x07", "Export/.DS_Store": b"\x00"}
    with open_roster(zip_of(files)) as roster:
        assert roster.version == "1.1"
        assert [u.sourced_id for u in roster.users({"s1"})] == ["u1"]


def test_two_users_files_differing_only_in_case_are_ambiguous():
    with pytest.raises(RosterStructureError, match="two files named users.csv"):
        open_roster(zip_of({**export(USERS_HEADER + "\n"), "Users.csv": USERS_HEADER + "\n"}))


def test_users_are_rows_not_lines_and_an_unknown_column_is_warned_about_once():
    users = USERS_HEADER + ",surprise\n" + user_line() + ',"two\nlines"\n\n' + user_line("u2") + ",\n"
    with open_roster(zip_of(export(users))) as roster:
        assert len(list(roster.users({"s1"}))) == 2
        assert roster.warnings == ["users.csv: ignored unknown columns surprise"]


def test_a_header_only_users_file_yields_no_users_and_a_warning():
    _, users, warnings = read(export(USERS_HEADER + "\r\n"))
    assert users == [] and "users.csv has no data rows" in warnings


def test_manifest_modes_and_versions_are_read_and_disagreements_reported():
    manifest = ("propertyName,value\nmanifest.version,1\noneroster.version,1.2.1\nfile.users,DELTA\n"
                "file.orgs,absent\nfile.enrollments,bulk\nfile.courses,\n")
    files = export(USERS_HEADER + "\n" + user_line() + "\n", **{"manifest.csv": manifest, "roles.csv": ROLES_HEADER + "\n"})
    with open_roster(zip_of(files)) as roster:
        assert roster.version == "1.2"
        assert roster.file_modes == {"users.csv": "delta", "orgs.csv": "bulk", "roles.csv": "bulk",
                                     "enrollments.csv": "absent", "courses.csv": "absent"}
        assert roster.files["enrollments.csv"].member is None and roster.files["users.csv"].listed
        assert sorted(roster.warnings) == [
            "manifest lists enrollments.csv as bulk but the file is missing: treated as absent",
            "manifest says orgs.csv is absent but the file is present: read as bulk",
            "roles.csv is not listed in manifest.csv: read as bulk",
        ]


def test_a_roster_without_manifest_is_read_as_1_0_and_a_folder_works_too(tmp_path):
    for name, content in (("orgs.csv", ORGS), ("Users.CSV", USERS_HEADER + "\nu1,,,,s1,student,,,A,B\n")):
        (tmp_path / name).write_text(content)
    with open_roster(tmp_path) as roster:
        assert roster.version == "1.0" and roster.warnings == ["no manifest.csv: read as OneRoster 1.0"]
        assert roster.file_modes == {"orgs.csv": "bulk", "users.csv": "bulk"}
        assert [u.sourced_id for u in roster.users({"s1"})] == ["u1"]


def test_open_roster_returns_the_roster_which_closes_its_zip(tmp_path):
    path = tmp_path / "r.zip"
    path.write_bytes(zip_of(export(USERS_HEADER + "\n" + user_line() + "\n")))
    roster = open_roster(path)
    assert [o.sourced_id for o in roster.orgs()] == ["d1", "s1", "s2"]
    with roster:
        pass
    assert roster._zip.fp is None


def test_oneroster_1_2_takes_roles_and_orgs_from_roles_csv():
    users = "\n".join([USERS_121_HEADER, "u1,,,true,,,Ann,Lee,,,,,,,,,,,,,s2,", "u2,,,true,,,Bo,Ng,,,,,,,,,,,,,,",
                       "u3,,,true,,,Cy,Ng,,,,,,,,,,,,,,", "u4,,,true,,,Di,Ng,,,,,,,,,,,,,,", ""])
    roles = "\n".join([
        ROLES_HEADER + ",,",  # Moodle-style trailing empty header cells
        "r1,,,u1,secondary,teacher,,,s1,", "r2,,,u1,primary,principal,,,s2,",
        "r3,,,u2,secondary,counselor,,,s1,", "r4,,,u2,primary,districtAdministrator,,,d1,",
        "r5,,,u2,secondary,aide,,,s1,",
        "r6,tobedeleted,,u3,primary,teacher,,,s1,", "r7,active,,u3,secondary,Aide,,,s2,",
        "r8,tobedeleted,,u4,primary,teacher,,,s1,", ""])
    _, users, _ = read(export(users, **{"roles.csv": roles}))
    assert [(u.sourced_id, u.role, u.org_sourced_ids) for u in users] == [
        ("u1", "administrator", ("s2", "s1")),
        ("u2", "administrator", ("d1", "s1")),
        ("u3", "aide", ("s2",)),               # a tobedeleted role only counts when it is all there is
        ("u4", "teacher", ("s1",)),
    ]


def test_oneroster_1_2_without_roles_csv_needs_role_columns():
    users = USERS_121_HEADER + "\nu1,,,true,,,Ann,Lee,,,,,,,,,,,,,s2,\n"
    with pytest.raises(RosterStructureError, match="missing required column.*role, orgSourcedIds"):
        read(export(users))


def test_a_parent_org_missing_from_the_export_is_dropped_with_a_warning():
    orgs = ORGS + "s9,,,Orphan,school,,gone\ns8,,,Later,school,,s10\ns10,,,Parent,district,,\n,,,Nameless,school,,\n"
    found, _, warnings = read({"manifest.csv": MANIFEST, "orgs.csv": orgs, "users.csv": USERS_HEADER + "\n"})
    by_id = {o.sourced_id: o for o in found if not isinstance(o, RowError)}
    assert by_id["s9"].parent_sourced_id is None and by_id["s8"].parent_sourced_id == "s10"
    assert [w for w in warnings if "gone" in w] == ["orgs.csv line 5: parent org gone not in the export; ignored"]
    assert [(e.line, e.message) for e in found if isinstance(e, RowError)] == [(8, "missing required value: sourcedId")]


def test_warnings_and_errors_never_carry_personal_data():
    users = "\n".join([USERS_HEADER + ",oddColumn",
                       user_line("u1", given="Zelda", family="Quux", email="zq@x.org", orgs='"s1,gone"', role="Wizard") + ",",
                       user_line("u1", given="Zelda", family="Quux", email="zq@x.org") + ",",
                       user_line("u 3", given="Zelda", family="Quux", email="zq@x.org") + ",",
                       user_line("u4", given="", family="Quux", email="zq@x.org") + ","])
    _, results, warnings = read(export(users + "\n"))
    text = " ".join(warnings + [r.message for r in results if isinstance(r, RowError)])
    assert len(warnings) == 3 and sum(isinstance(r, RowError) for r in results) == 3
    assert not any(secret in text for secret in ("Zelda", "Quux", "zq@x.org"))
