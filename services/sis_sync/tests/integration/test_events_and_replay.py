"""Events written set-based in SQL match the contract models exactly; replays; bootstrapping."""
from __future__ import annotations

import json

import pytest
from pur_contracts import (
    DirectoryReplayRequested,
    DirectorySchoolUpserted,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    SettingsReplayRequested,
    SisSyncCompleted,
)
from pur_kit.testing import EventSpy
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

MODELS = {m.event_name: m for m in (DirectoryUserUpserted, DirectoryUserDeactivated, DirectorySchoolUpserted,
                                      SisSyncCompleted)}


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("events") / "roster.zip",
                           schools=2, students=12, parents=8, staff=5, seed=4)


def same_shape(payload, model_json) -> bool:
    """Same keys at every level (and the same JSON types), so nothing more and nothing less than the contract."""
    if isinstance(payload, dict):
        return (isinstance(model_json, dict) and payload.keys() == model_json.keys()
                and all(same_shape(payload[k], model_json[k]) for k in payload))
    if isinstance(payload, list):
        return isinstance(model_json, list) and all(same_shape(a, b) for a, b in zip(payload, model_json, strict=True))
    return type(payload) is type(model_json)


async def test_event_payloads_built_in_sql_match_the_contract_and_the_api(service, district, roster, tmp_path):
    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        run = await service.import_roster(district, roster)
        events = await service.run_events(spy, run["id"])
        gone = (await service.users(district, role="student"))[0]
        without = rewrite_users(roster, tmp_path / "w.zip", lambda row: None if row["sourcedId"] == gone["sis_id"] else row)
        run2 = await service.import_roster(district, without)
        events += await service.run_events(spy, run2["id"])
        completed = [m for m in spy.messages if m.type == "sis.sync.completed"]
    assert {m.type for m in events} == {"directory.user.upserted", "directory.school.upserted",
                                        "directory.user.deactivated"}
    api_users = {u["id"]: u for u in await service.users(district)}
    latest = {}
    for message in events:
        if "user" in (payload := json.loads(message.body)):
            latest[payload["user"]["id"]] = payload
    assert len(latest) == len(api_users)
    for payload in latest.values():
        api = api_users[payload["user"]["id"]]
        assert payload["user"] == {k: v for k, v in api.items() if k not in ("agent_sis_ids", "version")}
        assert payload["version"] == api["version"]
    for message in events + completed:
        payload = json.loads(message.body)
        model = MODELS[message.type].model_validate_json(message.body)
        assert same_shape(payload, json.loads(model.model_dump_json())), message.type
        assert message.message_id == payload["event_id"] and message.correlation_id
    assert json.loads(completed[-1].body)["counts"]["deactivated"] == 1


async def test_a_replay_request_republishes_the_district_at_its_current_versions(service, district, roster):
    await service.import_roster(district, roster)
    await service.import_roster(district + "other", roster)
    users = {u["id"]: u for u in await service.users(district)}
    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#"]) as spy:
        await service.publish(DirectoryReplayRequested(district_id=district, requested_by="requests"))
        received = await spy.wait_for(len(users) + 2)
    by_type = {}
    for message in received:
        by_type.setdefault(message.type, []).append(json.loads(message.body))
    assert len(by_type["directory.school.upserted"]) == 2
    replayed = {e["user"]["id"]: e for e in by_type["directory.user.upserted"]}
    assert set(replayed) == set(users)  # this district only
    assert all(replayed[i]["version"] == users[i]["version"] for i in users)


async def test_a_service_starting_without_district_settings_asks_for_a_settings_replay(make_service, rabbitmq_url,
                                                                                       topology):
    async with EventSpy(rabbitmq_url, topology.exchange, ["settings.replay.requested"]) as spy:
        await make_service(fresh=True)  # an empty settings projection
        [request] = await spy.wait_for(1)
    event = SettingsReplayRequested.model_validate_json(request.body)
    assert event.requested_by == "sis_sync" and event.district_id is None
