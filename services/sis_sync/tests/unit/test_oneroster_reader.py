import io
import zipfile

import pytest
from sis_sync_service.adapters.oneroster import RosterStructureError, RowError, UserRecord, open_roster

MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\nfile.orgs,bulk\n"
ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nd1,,,District,district,,\ns1,,,North,school,,d1\ns2,,,South,school,,d1\n"
USERS_HEADER = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
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


def test_bom_crlf_and_a_quoted_field_with_a_comma_and_a_newline_keep_line_numbers_right():
    users = ("\ufeff" + USERS_HEADER + ",metadata.note\r\n"
             'u1,,,true,s1,student,,,Ann,Lee,,,a@x.org,,,,09,,"a, b\r\nc"\r\n'
             "u2,,,true,s2,teacher,,,Bo,Ng,,,,,,,,,\r\n")
    _, records, _ = read(export(users))
    assert [(u.sourced_id, u.line) for u in records] == [("u1", 2), ("u2", 4)]
    assert records[0].email == "a@x.org" and records[0].grades == ("09",)


def test_multi_valued_orgs_with_spaces_role_case_and_unknown_roles_are_normalised():
    users = (USERS_HEADER + "\n"
             'u1,,,true,"s1, s2",TEACHER,,,Ann,Lee,,,,,,,,\n'
             "u2,,,true,s1,ext:Coach,,,Bo,Ng,,,,,,,,\n")
    _, (teacher, coach), warnings = read(export(users))
    assert teacher.org_sourced_ids == ("s1", "s2") and teacher.role == "teacher"
    assert coach.role == "staff"
    assert any("unknown role" in w for w in warnings)


def test_columns_are_mapped_by_name_whatever_their_order_aliases_and_extras():
    users = ("givenName,familyName,sourceID,role,orgSourcedIds,userId,agents,ext_custom,metadata.x,surprise\n"
             "Ann,Lee,u1,parent,s1,ldap:1,u2,,,?\n"
             "Bo,Lee,u2,Student,s1,,,,,\n")
    _, records, warnings = read(export(users))
    assert [(u.sourced_id, u.role, u.agent_sourced_ids) for u in records] == [("u1", "parent", ("u2",)), ("u2", "student", ())]
    assert warnings == ["users.csv: ignored unknown columns surprise"]


def test_bad_rows_are_rejected_with_file_line_and_reason_and_the_rest_imports():
    users = (USERS_HEADER + "\n"
             "u1,,,true,s1,student,,,Ann,Lee,,,,,,,,\n"
             "u1,,,true,s1,student,,,Ann,Again,,,,,,,,\n"
             "u3,,,true,nowhere,student,,,Cy,Lee,,,,,,,,\n"
             "u4,,,true,s1,student,,,,Lee,,,,,,,,\n"
             "u5,,,true,s1,student,,,Di,Lee,,,,,,,,\n")
    _, results, _ = read(export(users))
    errors = [r for r in results if isinstance(r, RowError)]
    assert [(e.file, e.line) for e in errors] == [("users.csv", 3), ("users.csv", 4), ("users.csv", 5)]
    assert "duplicate sourcedId u1 (first seen on line 2)" in errors[0].message
    assert "unknown org nowhere" in errors[1].message
    assert "givenName" in errors[2].message
    assert [r.sourced_id for r in results if isinstance(r, UserRecord)] == ["u1", "u5"]
    assert all("Lee" not in e.message for e in errors)  # no personal data in messages


def test_empty_optional_columns_and_ragged_rows_are_fine():
    users = USERS_HEADER + "\nu1,,,,s1,student,,,Ann,Lee\nu2,,,false,s1,student,,,Bo,Ng,,,,,,,,,,\n"
    _, (a, b), _ = read(export(users))
    assert (a.enabled, a.email, a.phone) == (True, None, None)
    assert b.enabled is False


@pytest.mark.parametrize("files, message", [
    ({"users.csv": "x"}, "not a zip"),
    ({"../evil.csv": "x"}, "unsafe path"),
    ({"/abs.csv": "x"}, "unsafe path"),
    ({"manifest.csv": MANIFEST, "orgs.csv": ORGS}, "users.csv is missing"),
    ({"manifest.csv": MANIFEST, "orgs.csv": ORGS, "users.csv": "sourcedId,name\nu1,x\n"}, "wrong header"),
    ({"manifest.csv": MANIFEST, "orgs.csv": ORGS, "users.csv": ""}, "no header row"),
])
def test_structurally_broken_exports_fail_as_a_whole(files, message):
    data = b"plain text, not a zip" if message == "not a zip" else zip_of(files)
    with pytest.raises(RosterStructureError, match=message):
        with open_roster(data) as roster:
            known = {o.sourced_id for o in roster.orgs()}
            list(roster.users(known))


def test_zip_bombs_and_entry_floods_are_refused():
    bomb = zip_of({**export(USERS_HEADER + "\n"), "padding.csv": "0" * 200_000})
    with pytest.raises(RosterStructureError, match="decompress"):
        with open_roster(bomb, max_uncompressed_bytes=100_000):
            pass
    flood = zip_of({f"f{i}.csv": "x" for i in range(70)})
    with pytest.raises(RosterStructureError, match="entries"):
        with open_roster(flood, max_entries=64):
            pass


def test_a_roster_without_manifest_is_read_as_1_0_and_a_folder_works_too(tmp_path):
    for name, content in (("orgs.csv", ORGS), ("Users.CSV", USERS_HEADER + "\nu1,,,,s1,student,,,A,B\n")):
        (tmp_path / name).write_text(content)
    with open_roster(tmp_path) as roster:
        assert roster.version == "1.0" and any("manifest" in w for w in roster.warnings)
        assert [u.sourced_id for u in roster.users({"s1"})] == ["u1"]


def test_oneroster_1_2_takes_roles_and_orgs_from_roles_csv():
    users = ("sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,"
             "identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,preferredGivenName,"
             "preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns\n"
             "u1,,,true,,,Ann,Lee,,,,,,,,,,,,,s2,\n")
    roles = ("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId\n"
             "r1,,,u1,secondary,teacher,,,s1,\nr2,,,u1,primary,principal,,,s2,\n")
    _, (user,), _ = read(export(users, **{"roles.csv": roles}))
    assert user.role == "administrator"
    assert user.org_sourced_ids == ("s2", "s1")


def test_a_parent_org_missing_from_the_export_is_dropped_with_a_warning():
    orgs = ORGS + "s9,,,Orphan,school,,gone\n"
    found, _, warnings = read({"manifest.csv": MANIFEST, "orgs.csv": orgs, "users.csv": USERS_HEADER + "\n"})
    orphan = next(o for o in found if o.sourced_id == "s9")
    assert orphan.parent_sourced_id is None and any("gone" in w for w in warnings)
