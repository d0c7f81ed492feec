import collections
import zipfile

from sis_sync_service.adapters.oneroster import RowError, generate_roster, open_roster, rewrite_users


def read_all(path):
    with open_roster(path) as roster:
        orgs = [o for o in roster.orgs()]
        users = list(roster.users({o.sourced_id for o in orgs}))
        return roster, orgs, users


def test_a_generated_roster_reads_back_completely_with_its_quirks(tmp_path):
    path = generate_roster(tmp_path / "r.zip", schools=4, students=80, parents=50, staff=20, seed=5)
    raw = zipfile.ZipFile(path).read("users.csv")
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # BOM and CRLF
    roster, orgs, users = read_all(path)
    assert not [u for u in users if isinstance(u, RowError)]
    roles = collections.Counter(u.role for u in users)
    assert roles["student"] == 80 and roles["parent"] + roles["guardian"] == 50
    assert roles["teacher"] + roles["administrator"] + roles["aide"] == 20
    assert len([o for o in orgs if o.type == "school"]) == 4
    students = {u.sourced_id for u in users if u.role == "student"}
    guardians = {u.sourced_id for u in users if u.role in ("parent", "guardian")}
    links = {(u.sourced_id, a) for u in users for a in u.agent_sourced_ids}
    assert links and all((a in students) if s in guardians else (a in guardians) for s, a in links)
    assert any(len(u.org_sourced_ids) > 1 for u in users)


def test_generation_is_deterministic_for_a_seed(tmp_path):
    a = generate_roster(tmp_path / "a.zip", seed=9)
    b = generate_roster(tmp_path / "b.zip", seed=9)
    assert zipfile.ZipFile(a).read("users.csv") == zipfile.ZipFile(b).read("users.csv")


def test_rewrite_users_changes_and_drops_rows(tmp_path):
    path = generate_roster(tmp_path / "r.zip", students=10, parents=0, staff=2)

    def mutate(row):
        if row["sourcedId"] == "stu-000002":
            return None
        if row["sourcedId"] == "stu-000001":
            row["email"] = "changed@example.org"
        return row

    _, _, users = read_all(rewrite_users(path, tmp_path / "r2.zip", mutate))
    by_id = {u.sourced_id: u for u in users}
    assert "stu-000002" not in by_id and by_id["stu-000001"].email == "changed@example.org"
    assert len(by_id) == 11


def test_a_1_2_roster_reads_back_with_roles(tmp_path):
    path = generate_roster(tmp_path / "r.zip", students=20, parents=10, staff=5, version="1.2")
    roster, _, users = read_all(path)
    assert roster.version == "1.2"
    assert collections.Counter(u.role for u in users)["student"] == 20
