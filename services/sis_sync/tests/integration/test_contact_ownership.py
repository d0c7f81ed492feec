"""Who owns contact details: the SIS while contact_details_auto_update is on, the user otherwise."""
from __future__ import annotations

import pytest
from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("contact") / "roster.zip",
                           schools=2, students=20, parents=10, staff=5, seed=8)


async def test_self_edits_survive_syncs_while_auto_update_is_off_and_the_sis_wins_once_it_is_on(
        service, district, roster, tmp_path):
    await service.import_roster(district, roster)
    user = next(u for u in await service.users(district, role="student") if u["email"])
    me = service.person(user)

    # on (the default, even before the settings service has said anything): the SIS owns contacts
    r = await service.client.patch("/api/v1/directory/users/me/contact", json={"email": "me@example.org"}, headers=me)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "contact_details_managed_by_sis"
    assert "SIS" in r.json()["error"]["message"]

    # off: the user edits their email; re-imports keep it, even when the SIS value changes
    await service.set_contact_auto_update(district, False, version=1)
    r = await service.client.patch("/api/v1/directory/users/me/contact", json={"email": "me@example.org"}, headers=me)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "me@example.org" and r.json()["version"] == 2
    await service.import_roster(district, roster)
    assert (await service.user(district, user["sis_id"]))["email"] == "me@example.org"

    def sis_changes_email(row: dict) -> dict:
        if row["sourcedId"] == user["sis_id"]:
            row["email"] = "new.in.sis@example.org"
        return row

    changed = rewrite_users(roster, tmp_path / "changed.zip", sis_changes_email)
    run = await service.import_roster(district, changed)
    assert run["counts"]["updated"] == 0
    assert (await service.user(district, user["sis_id"]))["email"] == "me@example.org"

    # on again: edits are refused and the next import takes the SIS value
    await service.set_contact_auto_update(district, True, version=2)
    r = await service.client.patch("/api/v1/directory/users/me/contact", json={"email": "x@example.org"}, headers=me)
    assert r.status_code == 409
    run = await service.import_roster(district, changed)
    assert run["counts"]["updated"] == 1
    assert (await service.user(district, user["sis_id"]))["email"] == "new.in.sis@example.org"


async def test_an_older_settings_event_does_not_undo_a_newer_one(service, district, roster):
    await service.import_roster(district, roster)
    await service.set_contact_auto_update(district, False, version=5)
    stale = await service.publish_settings(district, True, version=4)

    async def stale_consumed() -> bool:
        conn = await service.db()
        try:
            return await conn.fetchval("SELECT count(*) FROM inbox_message WHERE message_id = $1",
                                       str(stale.event_id)) == 1
        finally:
            await conn.close()

    await wait_until(stale_consumed, message="the stale settings event consumed")
    user = (await service.users(district, role="student"))[0]
    r = await service.client.patch("/api/v1/directory/users/me/contact", json={"phone": "+1 555 555 0101"},
                                   headers=service.person(user))
    assert r.status_code == 200 and r.json()["phone"] == "+15555550101"


async def test_contact_edits_are_validated_and_only_for_oneself(service, district, roster):
    await service.import_roster(district, roster)
    await service.set_contact_auto_update(district, False, version=1)
    user = (await service.users(district, role="student"))[0]
    me = service.person(user)
    for body, field in (({"email": "nope"}, "email"), ({"phone": "12"}, "phone"), ({"sms": 5551234567}, "sms"),
                        ({"address": "x"}, "address")):
        r = await service.client.patch("/api/v1/directory/users/me/contact", json=body, headers=me)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    r = await service.client.patch("/api/v1/directory/users/me/contact", json={"sms": "+15555550100"},
                                   headers=service.system)
    assert r.status_code == 403
