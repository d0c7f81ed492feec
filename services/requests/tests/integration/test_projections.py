"""Directory and settings projections: appears applied, scope refresh, replays, idempotency."""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from pur_contracts import DirectoryUserUpserted, DistrictSettingsChanged, RequestsReplayRequested
from pur_contracts.events import DistrictSettings, NotificationSettings
from pur_kit.testing import EventSpy, wait_until

API = "/api/v1/requests"


async def details(svc, request_id, viewer):
    r = await svc.client.get(f"{API}/{request_id}", headers=svc.headers(viewer))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_request_appears_applied_once_the_directory_has_every_requested_value(svc, cast):
    w = svc.world
    r = await svc.client.post(API, json={"changes": {"email": "rita.new@example.org", "phone": "+15555550199"}},
                              headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    note_only = (await svc.client.post(API, json={"note": "just a note"}, headers=svc.headers(cast.requester_a))).json()
    await asyncio.sleep(0.3)
    async with EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["request.#"]) as spy:
        # only one of the two values arrived: not applied yet
        user = await w.put_user(cast.requester_a, email="RITA.NEW@example.org")
        assert (await details(svc, request_id, cast.manager_a))["appears_applied"] is False
        # both, in another spelling of the phone number: applied
        user = await w.put_user(user, phone="+1 555-555-0199")
        await wait_until(lambda: spy.of_type("request.appears_applied_changed"), message="applied event")
        body = await details(svc, request_id, cast.manager_a)
        assert body["appears_applied"] is True and body["version"] == 2
        (event,) = spy.of_type("request.appears_applied_changed")
        assert event["version"] == 2 and event["request"]["appears_applied"] is True
        # the SIS changed it again: no longer applied
        await w.put_user(user, phone="+15555550100")
        await spy.wait_for(2, "request.appears_applied_changed")
        assert (await details(svc, request_id, cast.manager_a))["appears_applied"] is False
    assert (await details(svc, note_only["id"], cast.manager_a))["appears_applied"] is False


async def test_a_done_request_is_not_flagged_as_applied(svc, cast):
    r = await svc.client.post(API, json={"changes": {"given_name": "Margarita"}}, headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    await svc.client.post(f"{API}/{request_id}/mark-done", headers=svc.headers(cast.manager_a))
    await svc.world.put_user(cast.requester_a, given_name="Margarita")
    assert (await details(svc, request_id, cast.manager_a))["appears_applied"] is False


async def test_a_requester_who_moves_school_moves_to_the_new_schools_manager(svc, cast):
    r = await svc.client.post(API, json={"note": "hi"}, headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    await svc.world.put_user(cast.requester_a, school_ids=["sch-b"], family_name="Moved")

    async def listed(manager) -> list[str]:
        r = await svc.client.get(API, headers=svc.headers(manager))
        return [i["id"] for i in r.json()["items"]]

    assert await listed(cast.manager_a) == []
    assert await listed(cast.manager_b) == [request_id]
    r = await svc.client.get(f"{API}/{request_id}", headers=svc.headers(cast.manager_a))
    assert r.status_code == 404
    body = await details(svc, request_id, cast.manager_b)
    assert body["requester"] == {"id": str(cast.requester_a.id), "name": "Rita Moved", "school_ids": ["sch-b"]}


async def test_directory_events_are_idempotent_and_version_gated(svc, cast):
    w = svc.world
    newer = cast.requester_a.model_copy(update={"email": "v9@example.org"})
    event = DirectoryUserUpserted(district_id=cast.district, version=9, user=newer)
    await w.publish(event)
    await w.publish(event)
    older = DirectoryUserUpserted(district_id=cast.district, version=3,
                                  user=cast.requester_a.model_copy(update={"email": "v3@example.org"}))
    await w.publish(older)
    await wait_until(lambda: w.fetchval("SELECT count(*) = 2 FROM inbox_message WHERE message_id = ANY($1::text[])",
                                        [str(event.event_id), str(older.event_id)]), message="both consumed")
    assert await w.fetchval("SELECT email FROM directory_user WHERE id = $1", cast.requester_a.id) == "v9@example.org"
    assert await w.fetchval("SELECT version FROM directory_user WHERE id = $1", cast.requester_a.id) == 9


async def test_a_replay_request_is_answered_with_a_snapshot_of_every_request(svc, cast):
    a = (await svc.client.post(API, json={"note": "a"}, headers=svc.headers(cast.requester_a))).json()
    b = (await svc.client.post(API, json={"note": "b"}, headers=svc.headers(cast.requester_b))).json()
    await svc.client.post(f"{API}/{b['id']}/mark-done", headers=svc.headers(cast.manager_b))
    await asyncio.sleep(0.3)
    async with EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["request.#"]) as spy:
        await svc.world.publish(RequestsReplayRequested(district_id=cast.district, requested_by="digest"))
        await spy.wait_for(2)
        await asyncio.sleep(0.3)
        snapshots = {m["request"]["id"]: (m, t) for t in ("request.submitted", "request.marked_done")
                     for m in spy.of_type(t)}
    assert set(snapshots) == {a["id"], b["id"]}
    assert snapshots[a["id"]][1] == "request.submitted" and snapshots[a["id"]][0]["version"] == 1
    assert snapshots[b["id"]][1] == "request.marked_done" and snapshots[b["id"]][0]["version"] == 2


async def test_a_fresh_service_asks_for_settings_and_directory_replays(database_factory, rabbitmq_url, topology):
    from pur_kit.migrations import upgrade
    from requests_service.config import Settings
    from requests_service.entrypoints.app import create_app

    url = await database_factory("requests")
    await upgrade(Path(__file__).resolve().parents[2], url)
    app = create_app(Settings(database_url=url, rabbitmq_url=rabbitmq_url, events_namespace=topology.namespace,
                              db_pool_size=2))
    async with EventSpy(rabbitmq_url, topology.exchange, ["*.replay.requested"]) as spy:
        async with app.state.runtime.lifespan(app):
            await spy.wait_for(2)
    replays = {m.type: m for m in spy.messages}
    assert set(replays) == {"settings.replay.requested", "directory.replay.requested"}
    assert {m.type: json.loads(m.body)["requested_by"] for m in spy.messages} == {
        "settings.replay.requested": "requests", "directory.replay.requested": "requests"}
    assert uuid.UUID(replays["settings.replay.requested"].message_id)


async def test_settings_kept_before_the_time_zone_was_projected_get_it_from_a_replay_of_the_same_version(svc):
    """Rows written before migration 0002 have no time zone: the service asks for a settings replay
    at start while one lacks it, and the replayed (same) version fills it in; a stale one never does."""
    district = svc.new_district()
    await svc.world.settings(district, enabled=True)
    assert await svc.world.fetchval("SELECT timezone FROM district_settings WHERE district_id = $1",
                                    district) == "America/New_York"
    await svc.world.fetchval("UPDATE district_settings SET timezone = NULL WHERE district_id = $1", district)
    async with svc.runtime.db.unit_of_work() as uow:
        assert await uow.repos.projections.has_settings() is False  # so the next start asks for a replay

    def replayed(version: int, zone: str) -> DistrictSettingsChanged:
        return DistrictSettingsChanged(district_id=district, version=version, settings=DistrictSettings(
            district_id=district, version=version, profile_update_requests_enabled=True,
            notifications=NotificationSettings(timezone=zone)))

    await svc.world.publish(replayed(1, "America/Chicago"))
    await wait_until(lambda: svc.world.fetchval("SELECT timezone = 'America/Chicago' FROM district_settings "
                                                "WHERE district_id = $1", district), message="time zone filled in")
    await svc.world.publish(replayed(1, "Europe/Madrid"))  # same version again: the zone is known now
    await svc.world.publish(replayed(2, "America/Denver"))
    await wait_until(lambda: svc.world.fetchval("SELECT version = 2 FROM district_settings WHERE district_id = $1",
                                                district), message="the newer version applied")
    assert await svc.world.fetchval("SELECT timezone FROM district_settings WHERE district_id = $1",
                                    district) == "America/Denver"
