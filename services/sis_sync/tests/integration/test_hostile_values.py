"""Control and bidirectional-override characters never enter the directory: not from a roster, not
from a contact edit, not through a permissions grant. (A CR/LF in a name became header lines of a
digest email; U+202E makes a name display reversed.)"""
from __future__ import annotations

import csv
import io
import json

import pytest
from pur_kit.testing import EventSpy
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

EVIL = {  # sourcedId -> (column, value)
    "stu-000001": ("givenName", "Eve\r\nBcc: x@evil.example"),      # a quoted CSV field with CRLF inside
    "stu-000002": ("familyName", "Mallory\nBcc: y@evil.example"),   # a bare LF
    "stu-000003": ("givenName", "Eve\u202enimda"),                   # displays as "Eveadmin"
    "par-000001": ("email", "p1\x00@evil.example"),
}


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("hostile") / "roster.zip",
                           schools=2, students=20, parents=10, staff=5, seed=51)


async def test_roster_rows_with_control_or_bidi_characters_are_refused_and_their_users_stay_as_they_were(
        service, district, roster, tmp_path):
    await service.import_roster(district, roster)
    before = await service.users(district)

    def poison(row: dict) -> dict:
        column, value = EVIL.get(row["sourcedId"], (None, None))
        return {**row, column: value} if column else row

    evil = rewrite_users(roster, tmp_path / "evil.zip", poison)
    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        run = await service.import_roster(district, evil)
        assert run["counts"] == {"created": 0, "updated": 0, "unchanged": 31, "deactivated": 0, "rejected": 4}
        assert await service.run_events(spy, run["id"]) == []
    assert await service.users(district) == before  # none deactivated, none renamed
    assert [(e["file"], e["message"]) for e in run["errors"]] == [
        ("users.csv", "givenName contains a control, line-separator or bidirectional-override character (U+000D)"),
        ("users.csv", "familyName contains a control, line-separator or bidirectional-override character (U+000A)"),
        ("users.csv", "givenName contains a control, line-separator or bidirectional-override character (U+202E)"),
        ("users.csv", "email contains a control, line-separator or bidirectional-override character (U+0000)"),
    ]
    assert all(isinstance(e["line"], int) for e in run["errors"])
    assert not any(word in json.dumps(run) for word in ("Bcc", "evil", "nimda"))


async def test_contact_edits_with_control_or_bidi_characters_get_422_naming_the_field(service, district, roster):
    await service.import_roster(district, roster)
    await service.set_contact_auto_update(district, False, version=1)
    user = (await service.users(district, role="student"))[0]
    for body, field in (({"email": "eve\x00@evil.example"}, "email"), ({"email": "eve\u202e@evil.example"}, "email"),
                        ({"phone": "+1 555\r\n555 0100"}, "phone"), ({"sms": "+1555\t5550100"}, "sms")):
        r = await service.client.patch("/api/v1/directory/users/me/contact", json=body, headers=service.person(user))
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error" and r.json()["error"]["field"] == field
        assert "evil" not in r.text and "0100" not in r.text
    assert await service.user(district, user["sis_id"]) == user


async def test_a_permissions_grant_with_a_control_character_in_a_school_id_gets_422_without_echoing_it(
        service, district, roster):
    await service.import_roster(district, roster)
    user = (await service.users(district, role="teacher"))[0]
    body = {"users_manager": {"scope": "schools", "school_ids": ["sch-001\r\nX-Injected: 1"]}}
    r = await service.client.put(f"/api/v1/directory/users/{user['id']}/permissions", json=body, headers=service.system)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].startswith("users_manager.school_ids")
    assert "Injected" not in r.text
    assert await service.user(district, user["sis_id"]) == user


async def test_an_org_row_with_a_control_character_is_refused_and_its_school_and_people_stay_as_they_were(
        service, district, roster):
    await service.import_roster(district, roster)
    before = await service.directory_snapshot()
    files = service.read_zip(roster)
    name = next(n for n in files if n.lower().endswith("orgs.csv"))
    rows = list(csv.reader(io.StringIO(files[name].decode("utf-8-sig"), newline="")))
    rows = [[*row[:3], "North\r\nBcc: x@evil.example", *row[4:]] if row[0] == "sch-001" else row for row in rows]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    files[name] = out.getvalue().encode()

    run = await service.import_roster(district, service.zip_bytes(files))
    assert run["errors"][0]["file"] == "orgs.csv"
    assert run["errors"][0]["message"].startswith("name contains a control")
    assert run["counts"] == {"created": 0, "updated": 0, "unchanged": 35, "deactivated": 0, "rejected": 1}
    assert await service.directory_snapshot() == before  # the school is neither renamed nor deactivated
