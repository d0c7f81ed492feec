"""Outages of PostgreSQL and RabbitMQ, injected with a TCP proxy in front of the real ones: the
service answers 503 while its database is gone and serves again once it is back; while the broker
is gone submissions still succeed (state and event commit together in the outbox) and the events
go out once the broker is back, and the consumers resume."""
from __future__ import annotations

import httpx
from pur_kit.testing import EventSpy, connections_refused, wait_until

API = "/api/v1/requests"


async def submit(svc, person, note: str) -> httpx.Response:
    return await svc.client.post(API, json={"note": note}, headers=svc.headers(person))


async def test_a_database_outage_gives_503_and_the_service_recovers(faulty):
    assert (await submit(faulty, faulty.people[0], "before")).status_code == 201
    await faulty.db_proxy.cut()
    r = await submit(faulty, faulty.people[1], "during")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable" and r.headers["retry-after"]
    ready = await faulty.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["error"]["checks"]["database"].startswith("unavailable")
    await faulty.db_proxy.restore()

    async def serves_again() -> bool:
        return (await faulty.client.get("/readyz")).status_code == 200

    await wait_until(serves_again, timeout=30, message="ready again")
    assert (await submit(faulty, faulty.people[1], "after")).status_code == 201
    mine = await faulty.client.get(f"{API}/mine", headers=faulty.headers(faulty.people[1]))
    assert [i["note"] for i in mine.json()["items"]] == ["after"]   # the refused one left nothing


async def test_a_broker_outage_loses_no_event_and_consumption_resumes(faulty):
    async with EventSpy(faulty.rabbitmq_url, faulty.topology.exchange, ["request.submitted"]) as spy:
        await faulty.amqp_proxy.cut()

        async def broker_down() -> bool:
            checks = (await faulty.client.get("/healthz/dependencies")).json().get("error", {}).get("checks", {})
            return checks.get("broker") == "unavailable"

        await wait_until(broker_down, timeout=30, message="the broker reported unavailable")
        # Still ready: this instance serves its traffic, so a load balancer must keep sending it.
        ready = await faulty.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        # Submissions keep working: the request and its event commit together in the outbox.
        accepted = [await submit(faulty, p, "while the broker is away") for p in faulty.people[:3]]
        assert [r.status_code for r in accepted] == [201, 201, 201]
        assert spy.messages == []
        await faulty.amqp_proxy.restore()
        received = await spy.wait_for(3, "request.submitted", timeout=60)
    assert {e["request"]["id"] for e in received} == {r.json()["id"] for r in accepted}
    # The consumer is back too: a directory change published now is applied.
    await faulty.world.put_user(faulty.people[3], given_name="Renamed")


async def test_a_database_refusing_connections_gives_503_not_500(svc, cast):
    async with connections_refused(svc.settings.database_url):
        r = await svc.client.post(API, json={"note": "during maintenance"}, headers=svc.headers(cast.requester_a))
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable"
        listed = await svc.client.get(API, headers=svc.headers(cast.manager_a))
        assert listed.status_code == 503, listed.text
        assert (await svc.client.get("/readyz")).status_code == 503
    r = await svc.client.post(API, json={"note": "after maintenance"}, headers=svc.headers(cast.requester_a))
    assert r.status_code == 201, r.text
