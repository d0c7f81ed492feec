"""Mark as Done and Restore Request: history, events, idempotency, and no requester notification."""
from __future__ import annotations

import asyncio
import uuid

from pur_kit.testing import EventSpy

API = "/api/v1/requests"


async def test_mark_done_then_restore_round_trip_records_history_and_publishes_only_staff_events(svc, cast):
    r = await svc.client.post(API, json={"changes": {"email": "rita.n@example.org"}, "note": "please"},
                              headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    manager = svc.headers(cast.manager_a)
    await asyncio.sleep(0.3)  # let the submission event leave before the spy listens

    async with EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["#"]) as spy:
        done = await svc.client.post(f"{API}/{request_id}/mark-done", headers=manager)
        assert done.status_code == 200
        body = done.json()
        assert body["status"] == "done" and body["done_by"] == str(cast.manager_a.id) and body["done_at"]
        again = await svc.client.post(f"{API}/{request_id}/mark-done", headers=manager)
        assert again.status_code == 200 and again.json()["done_at"] == body["done_at"]

        listed = await svc.client.get(API, params={"status": "done"}, headers=manager)
        assert [i["id"] for i in listed.json()["items"]] == [request_id]

        restored = await svc.client.post(f"{API}/{request_id}/restore", headers=svc.headers(cast.district_manager))
        assert restored.status_code == 200
        assert restored.json()["status"] == "new" and restored.json()["done_at"] is None
        again = await svc.client.post(f"{API}/{request_id}/restore", headers=manager)
        assert again.status_code == 200

        listed = await svc.client.get(API, params={"status": "new"}, headers=manager)
        assert [i["id"] for i in listed.json()["items"]] == [request_id]

        await spy.wait_for(2)
        await asyncio.sleep(0.5)  # anything else the service would publish has had time to arrive
        # No notification of any kind: the only messages are the two staff-facing request events
        # (no digest/notification routing key, no message to the requester), once each.
        assert [m.type for m in spy.messages] == ["request.marked_done", "request.restored"]
        marked, restored_event = spy.of_type("request.marked_done")[0], spy.of_type("request.restored")[0]
    assert marked["version"] == 2 and restored_event["version"] == 3
    assert marked["request"]["status"] == "done" and marked["request"]["done_by"] == str(cast.manager_a.id)
    assert restored_event["request"]["status"] == "new"
    assert "rita.n@example.org" not in str(marked) and "please" not in str(marked)

    details = (await svc.client.get(f"{API}/{request_id}", headers=manager)).json()
    assert [(h["action"], h["by"]) for h in details["history"]] == [
        ("submitted", str(cast.requester_a.id)),
        ("marked_done", str(cast.manager_a.id)),
        ("restored", str(cast.district_manager.id)),
    ]
    assert details["history"][1]["by_name"] == "Mia Alder"
    # the requester's own view shows the status, nothing was sent to them
    mine = await svc.client.get(f"{API}/mine", headers=svc.headers(cast.requester_a))
    assert mine.json()["items"][0]["status"] == "new"
    assert await svc.world.fetchval("SELECT count(*) FROM outbox_message") == 0


async def test_the_system_credential_can_act_and_is_named_system_in_the_history(svc, cast):
    r = await svc.client.post(API, json={"note": "x"}, headers=svc.headers(cast.requester_b))
    request_id = r.json()["id"]
    r = await svc.client.post(f"{API}/{request_id}/mark-done", headers=svc.system)
    assert r.status_code == 200 and r.json()["done_by"] == "system"
    assert r.json()["history"][-1] == {**r.json()["history"][-1], "action": "marked_done", "by": "system",
                                       "by_name": "System"}


async def test_concurrent_mark_done_calls_record_one_transition(svc, cast):
    r = await svc.client.post(API, json={"note": "x"}, headers=svc.headers(cast.requester_a))
    request_id = r.json()["id"]
    results = await asyncio.gather(*(svc.client.post(f"{API}/{request_id}/mark-done",
                                                     headers=svc.headers(m))
                                     for m in (cast.manager_a, cast.district_manager, cast.manager_a)))
    assert {r.status_code for r in results} == {200}
    assert await svc.world.fetchval(
        "SELECT count(*) FROM request_history WHERE request_id = $1 AND action = 'marked_done'",
        uuid.UUID(request_id)) == 1
