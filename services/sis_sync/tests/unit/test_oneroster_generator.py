import collections
import zipfile

from sis_sync_service.adapters.oneroster import RowError, generate_roster, open_roster, rewrite_users
from sis_sync_service.adapters.oneroster.generator import main


def read_all(path):
    with open_roster(path) as roster:
        orgs = list(roster.orgs())
        users = list(roster.users({o.sourced_id for o in orgs}))
        return roster, orgs, users


def test_a_generated_roster_reads_back_completely_with_its_quirks(tmp_path):
    path = generate_roster(tmp_path / "r.zip", schools=4, students=80, parents=50, staff=20, seed=5)
    raw = zipfile.ZipFile(path).read("users.csv")
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") > 150  # BOM and CRLF
    assert b'"Allergies: peanuts, dairy\nSee nurse"' in raw                # comma and newline in one quoted cell
    assert b"TEACHER" in raw or b"Student" in raw or b"Parent" in raw      # mixed role case
    roster, orgs, users = read_all(path)
    assert roster.version == "1.1" and roster.warnings == []
    assert not [u for u in users if isinstance(u, RowError)]
    assert [u.line for u in users[:2]] == [2, 4]                           # the note spans lines 2-3
    roles = collections.Counter(u.role for u in users)
    assert roles["student"] == 80 and roles["parent"] + roles["guardian"] == 50 and roles["guardian"] > 0
    assert roles["teacher"] + roles["administrator"] + roles["aide"] == 20
    assert min(roles["teacher"], roles["administrator"], roles["aide"]) > 0
    assert [o.type for o in orgs] == ["district"] + ["school"] * 4
    assert all(o.parent_sourced_id == "dist-1" for o in orgs[1:])
    assert any(len(u.org_sourced_ids) > 1 for u in users if u.role in ("teacher", "administrator", "aide"))
    assert all(u.grades for u in users if u.role == "student")


def test_every_parent_links_to_existing_students_from_one_side_or_the_other(tmp_path):
    _, _, users = read_all(generate_roster(tmp_path / "r.zip", schools=3, students=60, parents=40, staff=5, seed=3))
    students = {u.sourced_id for u in users if u.role == "student"}
    guardians = {u.sourced_id for u in users if u.role in ("parent", "guardian")}
    links = {frozenset((u.sourced_id, a)) for u in users for a in u.agent_sourced_ids}
    assert all(len(link & students) == 1 and len(link & guardians) == 1 for link in links)
    linked = collections.Counter(g for link in links for g in link & guardians)
    assert set(linked) == guardians and max(linked.values()) <= 3
    on_parent_rows = {u.sourced_id for u in users if u.sourced_id in guardians and u.agent_sourced_ids}
    assert 0 < len(on_parent_rows) < len(guardians)                       # both sides are used


def test_names_with_apostrophes_accents_and_commas_and_mixed_phone_formats_survive(tmp_path):
    _, orgs, users = read_all(generate_roster(tmp_path / "r.zip", students=60, parents=60, staff=10, seed=2))
    family_names = {u.family_name for u in users}
    assert {"O'Brien", "García", "Wright, Jr."} <= family_names
    assert any("," in o.name for o in orgs)
    phones = [u.phone for u in users if u.phone]
    assert any(p.startswith("+1") for p in phones) and any(p.startswith("(") and " " in p for p in phones)
    assert any(u.email is None for u in users if u.role == "student")      # empty optional columns


def test_generation_is_deterministic_for_a_seed(tmp_path):
    a = zipfile.ZipFile(generate_roster(tmp_path / "a.zip", seed=9))
    b = zipfile.ZipFile(generate_roster(tmp_path / "b.zip", seed=9))
    c = zipfile.ZipFile(generate_roster(tmp_path / "c.zip", seed=10))
    assert all(a.read(name) == b.read(name) for name in a.namelist())
    assert a.read("users.csv") != c.read("users.csv")


def test_without_quirks_the_files_are_plain_lf_without_bom_or_extension_column(tmp_path):
    path = generate_roster(tmp_path / "r.zip", students=10, parents=5, staff=2, quirks=False)
    raw = zipfile.ZipFile(path).read("users.csv")
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw and b"metadata." not in raw
    assert len(read_all(path)[2]) == 17


def test_a_folder_export_reads_like_the_zip(tmp_path):
    zipped = read_all(generate_roster(tmp_path / "r.zip", students=20, parents=10, staff=4, seed=4))[2]
    folder = generate_roster(tmp_path / "folder", students=20, parents=10, staff=4, seed=4, as_zip=False)
    assert sorted(p.name for p in folder.iterdir()) == [
        "demographics.csv", "enrollments.csv", "manifest.csv", "orgs.csv", "users.csv"]
    assert read_all(folder)[2] == zipped


def test_a_1_2_roster_reads_back_with_roles_from_roles_csv(tmp_path):
    path = generate_roster(tmp_path / "r.zip", students=20, parents=10, staff=12, version="1.2")
    header = zipfile.ZipFile(path).read("users.csv").decode("utf-8-sig").split("\r\n", 1)[0]
    assert "role" not in header.split(",") and "primaryOrgSourcedId" in header
    assert b"siteAdministrator" in zipfile.ZipFile(path).read("roles.csv")
    roster, _, users = read_all(path)
    assert roster.version == "1.2" and roster.file_modes["roles.csv"] == "bulk"
    roles = collections.Counter(u.role for u in users)
    assert roles["student"] == 20 and roles["parent"] + roles["guardian"] == 10
    assert roles["teacher"] + roles["administrator"] + roles["aide"] == 12 and roles["administrator"] > 0
    assert any(len(u.org_sourced_ids) > 1 for u in users)


def test_a_1_0_roster_has_no_manifest(tmp_path):
    path = generate_roster(tmp_path / "r.zip", students=5, parents=2, staff=1, version="1.0")
    assert "manifest.csv" not in zipfile.ZipFile(path).namelist()
    roster, _, users = read_all(path)
    assert roster.version == "1.0" and len(users) == 8


def test_rewrite_users_changes_and_drops_rows_and_keeps_the_rest_byte_for_byte(tmp_path):
    path = generate_roster(tmp_path / "r.zip", students=10, parents=0, staff=2)

    def mutate(row):
        if row["sourcedId"] == "stu-000002":
            return None
        if row["sourcedId"] == "stu-000001":
            row["email"] = "changed@example.org"
        return row

    copy = rewrite_users(path, tmp_path / "r2.zip", mutate)
    raw = zipfile.ZipFile(copy).read("users.csv")
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert zipfile.ZipFile(copy).read("orgs.csv") == zipfile.ZipFile(path).read("orgs.csv")
    _, _, users = read_all(copy)
    by_id = {u.sourced_id: u for u in users}
    assert "stu-000002" not in by_id and by_id["stu-000001"].email == "changed@example.org"
    assert len(by_id) == 11


def test_rewrite_users_works_on_a_folder_too(tmp_path):
    folder = generate_roster(tmp_path / "f", students=4, parents=0, staff=1, as_zip=False)
    copy = rewrite_users(folder, tmp_path / "g", lambda row: {**row, "familyName": "X"})
    assert {u.family_name for u in read_all(copy)[2]} == {"X"}


def test_the_command_line_writes_a_roster(tmp_path, capsys):
    assert main([str(tmp_path / "cli.zip"), "--students", "7", "--parents", "3", "--staff", "2", "--schools", "2",
                 "--seed", "4", "--version", "1.2"]) == 0
    assert capsys.readouterr().out.strip().endswith("cli.zip")
    assert len(read_all(tmp_path / "cli.zip")[2]) == 12
    assert main([str(tmp_path / "dir"), "--students", "3", "--parents", "0", "--staff", "1", "--folder"]) == 0
    assert (tmp_path / "dir" / "users.csv").is_file()
