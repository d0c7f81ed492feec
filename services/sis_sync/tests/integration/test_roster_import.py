"""Importing OneRoster exports into the directory: counts, events only for real changes, the
bulk deactivation rules, row errors and permissions that survive syncs."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from pur_contracts import DirectoryUserUpserted
from pur_kit.testing import EventSpy
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

GUARDIAN_ROLES = {"parent", "guardian", "relative"}


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    """5 schools, 300 students, 240 parents linked to students, 60 teachers and staff."""
    return generate_roster(tmp_path_factory.mktemp("roster") / "roster.zip",
                           schools=5, students=300, parents=240, staff=60, seed=11)


@pytest.fixture(scope="module")
def small_roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("small") / "small.zip",
                           schools=2, students=30, parents=20, staff=10, seed=5)


def users_csv_rows(harness, path) -> list[dict]:
    files = harness.read_zip(path)
    name = next(n for n in files if n.lower().endswith("users.csv"))
    return list(csv.DictReader(io.StringIO(files[name].decode("utf-8-sig"))))


async def test_a_realistic_roster_imports_everyone_and_the_same_file_again_changes_nothing(service, district, roster):
    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        first = await service.import_roster(district, roster)
        assert first["counts"] == {"created": 600, "updated": 0, "unchanged": 0, "deactivated": 0, "rejected": 0}
        assert first["progress"]["rows_done"] == first["progress"]["rows_total"] == 600
        events = await service.run_events(spy, first["id"])
        assert Counter(m.type for m in events) == {"directory.user.upserted": 600, "directory.school.upserted": 5}

        users = await service.users(district)
        roles = Counter(u["role"] for u in users)
        assert roles["student"] == 300 and sum(roles[r] for r in GUARDIAN_ROLES) == 240
        assert sum(roles.values()) == 600 and all(u["active"] for u in users)
        students = {u["sis_id"] for u in users if u["role"] == "student"}
        guardians = [u for u in users if u["role"] in GUARDIAN_ROLES]
        linked = [g for g in guardians if students & set(g["agent_sis_ids"])]
        students_with_parents = [u for u in users if u["role"] == "student" and u["agent_sis_ids"]]
        assert linked or students_with_parents, "parents are linked to students through agentSourcedIds"
        assert all(u["school_ids"] for u in users if u["role"] == "student")

        again = await service.import_roster(district, roster)
        assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 600, "deactivated": 0, "rejected": 0}
        assert await service.run_events(spy, again["id"]) == []


async def test_changing_one_email_in_the_sis_publishes_exactly_one_event(service, district, roster, tmp_path):
    await service.import_roster(district, roster)
    target = users_csv_rows(service, roster)[7]["sourcedId"]

    def new_email(row: dict) -> dict:
        if row["sourcedId"] == target:
            row["email"] = "changed.in.sis@example.org"
        return row

    changed = rewrite_users(roster, tmp_path / "changed.zip", new_email)
    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        run = await service.import_roster(district, changed)
        events = await service.run_events(spy, run["id"])
    assert run["counts"] == {"created": 0, "updated": 1, "unchanged": 599, "deactivated": 0, "rejected": 0}
    assert [m.type for m in events] == ["directory.user.upserted"]
    event = DirectoryUserUpserted.model_validate_json(events[0].body)
    assert (event.user.sis_id, event.user.email, event.version) == (target, "changed.in.sis@example.org", 2)
    assert (await service.user(district, target))["email"] == "changed.in.sis@example.org"


async def test_permissions_survive_a_reimport_that_changes_the_user(service, district, small_roster, tmp_path):
    await service.import_roster(district, small_roster)
    staff = sorted((u for u in await service.users(district) if u["role"] not in GUARDIAN_ROLES | {"student"}),
                   key=lambda u: u["sis_id"])
    manager = next(u for u in staff if u["school_ids"])
    grant = {"district_admin": True, "users_manager": {"scope": "schools", "school_ids": manager["school_ids"][:1]}}
    r = await service.client.put(f"/api/v1/directory/users/{manager['id']}/permissions", json=grant,
                                 headers=service.system)
    assert r.status_code == 200, r.text

    def rename(row: dict) -> dict:
        if row["sourcedId"] == manager["sis_id"]:
            row["familyName"] = "Renamed"
        return row

    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        run = await service.import_roster(district, rewrite_users(small_roster, tmp_path / "renamed.zip", rename))
        [event] = await service.run_events(spy, run["id"])
    after = await service.user(district, manager["sis_id"])
    assert after["family_name"] == "Renamed"
    assert after["permissions"] == grant
    assert json.loads(event.body)["user"]["permissions"] == grant


async def test_users_left_out_of_a_bulk_export_are_deactivated_and_reactivated_when_they_return(
        service, district, small_roster, tmp_path):
    await service.import_roster(district, small_roster)
    rows = users_csv_rows(service, small_roster)
    gone = {rows[0]["sourcedId"], rows[1]["sourcedId"], rows[2]["sourcedId"]}
    without = rewrite_users(small_roster, tmp_path / "without.zip", lambda row: None if row["sourcedId"] in gone else row)

    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        run = await service.import_roster(district, without)
        assert run["counts"]["deactivated"] == 3 and run["counts"]["unchanged"] == 57
        events = await service.run_events(spy, run["id"])
        assert sorted(m.type for m in events) == ["directory.user.deactivated"] * 3
        for sis_id in gone:  # kept, never deleted
            assert (await service.user(district, sis_id))["active"] is False

        back = await service.import_roster(district, small_roster)
        assert back["counts"] == {"created": 0, "updated": 3, "unchanged": 57, "deactivated": 0, "rejected": 0}
        events = await service.run_events(spy, back["id"])
    assert sorted(m.type for m in events) == ["directory.user.upserted"] * 3
    assert all([(await service.user(district, s))["active"] for s in gone])
    ids = {json.loads(m.body)["user"]["sis_id"]: json.loads(m.body)["version"] for m in events}
    assert ids == {s: 3 for s in gone}


async def test_an_export_that_would_deactivate_too_many_users_fails_unless_forced(service, district, small_roster,
                                                                                tmp_path):
    await service.import_roster(district, small_roster)
    before = await service.directory_snapshot()
    rows = users_csv_rows(service, small_roster)
    kept = {r["sourcedId"] for r in rows[:40]}  # 20 of 60 left out: 33% > 20%
    shrunk = rewrite_users(small_roster, tmp_path / "shrunk.zip", lambda row: row if row["sourcedId"] in kept else None)

    refused = await service.import_roster(district, shrunk, expect="failed")
    assert "20 of 60" in refused["failure"] and "force=true" in refused["failure"]
    assert refused["errors"][0]["message"] == refused["failure"]
    assert await service.directory_snapshot() == before

    forced = await service.import_roster(district, shrunk, force=True)
    assert forced["forced"] is True and forced["counts"]["deactivated"] == 20
    assert len(await service.users(district, active="false")) == 20
    assert len(await service.users(district)) == 60


async def test_rejected_rows_are_reported_with_file_and_line_and_the_rest_imports(service, district, small_roster):
    files = service.read_zip(small_roster)
    name = next(n for n in files if n.lower().endswith("users.csv"))
    text = files[name].decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    header = reader.fieldnames
    unknown_org = dict(rows[3], sourcedId="u-unknown-org", orgSourcedIds="no-such-org")
    missing_name = dict(rows[4], sourcedId="u-missing-name", givenName="")
    duplicate = dict(rows[5], givenName="Twin")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows([*rows, unknown_org, missing_name, duplicate])
    files[name] = out.getvalue().encode()

    run = await service.import_roster(district, service.zip_bytes(files))
    assert run["counts"]["created"] == 60 and run["counts"]["rejected"] == 3
    first_added = out.getvalue().count("\n") - 2  # physical lines: quoted values may span several
    by_line = {e["line"]: e for e in run["errors"]}
    assert set(by_line) == {first_added, first_added + 1, first_added + 2}
    assert all(e["file"].lower().endswith("users.csv") for e in run["errors"])
    assert "no-such-org" in by_line[first_added]["message"]
    assert "givenname" in by_line[first_added + 1]["message"].lower()
    assert "duplicate" in by_line[first_added + 2]["message"].lower()
    assert rows[5]["sourcedId"] in by_line[first_added + 2]["message"]
    assert (await service.user(district, rows[5]["sourcedId"]))["given_name"] == rows[5]["givenName"]
    assert await service.users(district, sis_id="u-unknown-org") == []


async def test_oneroster_1_2_exports_and_folders_import_like_zipped_1_1_ones(service, district, tmp_path):
    v12 = generate_roster(tmp_path / "v12.zip", schools=2, students=10, parents=6, staff=4, seed=9, version="1.2")
    run = await service.import_roster(district, v12)
    assert run["counts"]["created"] == 20 and run["counts"]["rejected"] == 0
    users = await service.users(district)
    assert Counter(u["role"] for u in users)["student"] == 10
    assert all(u["school_ids"] for u in users)  # from roles.csv / primaryOrgSourcedId

    folder = generate_roster(tmp_path / "folder", schools=2, students=10, parents=6, staff=4, seed=9, as_zip=False)
    started = await service.parts.pipeline.begin(district + "f", source="cli", source_name="folder")
    outcome = await service.parts.pipeline.execute(started, folder)
    assert outcome.status == "succeeded" and outcome.counts.created == 20


async def test_reader_warnings_are_kept_on_the_run(service, district, small_roster, tmp_path):
    target = users_csv_rows(service, small_roster)[0]["sourcedId"]
    coach = rewrite_users(small_roster, tmp_path / "coach.zip",
                          lambda row: {**row, "role": "Coach"} if row["sourcedId"] == target else row)
    run = await service.import_roster(district, coach)
    assert any("Coach" in w and "staff" in w for w in run["warnings"])
    assert (await service.user(district, target))["role"] == "staff"


async def test_a_delta_users_file_changes_only_its_rows(service, district, small_roster):
    await service.import_roster(district, small_roster)
    files = service.read_zip(small_roster)
    users_name = next(n for n in files if n.lower().endswith("users.csv"))
    manifest_name = next(n for n in files if n.lower().endswith("manifest.csv"))
    reader = csv.DictReader(io.StringIO(files[users_name].decode("utf-8-sig")))
    rows = list(reader)
    leaving = dict(rows[0], status="tobedeleted", dateLastModified="2026-01-05T10:00:00Z")
    renamed = dict(rows[1], status="active", familyName="Delta", dateLastModified="2026-01-05T10:00:00Z")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows([leaving, renamed])
    files[users_name] = out.getvalue().encode()
    files[manifest_name] = files[manifest_name].replace(b"file.users,bulk", b"file.users,delta")

    run = await service.import_roster(district, service.zip_bytes(files))
    assert run["counts"] == {"created": 0, "updated": 1, "unchanged": 0, "deactivated": 1, "rejected": 0}
    assert (await service.user(district, rows[0]["sourcedId"]))["active"] is False
    assert (await service.user(district, rows[1]["sourcedId"]))["family_name"] == "Delta"
    assert len(await service.users(district, active="true")) == 59  # everyone else untouched
