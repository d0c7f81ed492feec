"""Projections fed through RabbitMQ: version-gated, idempotent, following the directory; replays."""
from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
from pur_contracts import DirectoryUserUpserted, RequestSubmitted
from pur_kit.db import asyncpg_dsn
from pur_kit.testing import EventSpy, wait_until

RUN = "/api/v1/digests/run"


async def preview(svc, district: str) -> dict[str, list[str]]:
    r = await svc.client.post(RUN, json={"district_id": district, "dry_run": True}, headers=svc.system)
    assert r.status_code == 200, r.text
    return {e["to"]: e["request_ids"] for e in r.json()["emails"]}


async def test_an_empty_service_asks_every_owner_for_a_replay_at_start(digest_db, rabbitmq_url, topology, mailbox,
                                                                      harness):
    keys = ["settings.replay.requested", "directory.replay.requested", "requests.replay.requested"]
    settings = harness.digest_settings(digest_db, rabbitmq_url, topology, mailbox.port)
    async with EventSpy(rabbitmq_url, topology.exchange, keys) as spy:
        async with harness.running(settings, harness.FakeClock()):
            for key in keys:
                (event,) = await spy.wait_for(1, key)
                assert event["requested_by"] == "digest" and event["district_id"] is None


async def test_older_and_duplicate_events_change_nothing(svc, cast):
    w = svc.world
    # a stale snapshot of the done request (version 1, "new") arrives late, and twice
    late = RequestSubmitted(district_id=cast.district, version=1, request=cast.req_done)
    await w.publish(late)
    await w.publish(late)
    # a stale directory event would make manager_b a district-level manager again
    stale = DirectoryUserUpserted(district_id=cast.district, version=1, user=cast.manager_b.model_copy(
        update={"permissions": cast.manager_b.permissions.model_copy(update={"users_manager": None})}))
    await w.put_user(cast.manager_b, email="max.new@example.org")            # version 2
    stale_id = str(uuid.uuid4())
    await w.publish(stale, message_id=stale_id)

    async def consumed() -> bool:
        return await w.fetchval("SELECT count(*) FROM inbox_message WHERE message_id = ANY($1::text[])",
                                [str(late.event_id), stale_id]) == 2

    await wait_until(consumed, message="the late events consumed")
    emails = await preview(svc, cast.district)
    assert str(cast.req_done.id) not in emails["dora@example.org"]
    assert "max.new@example.org" in emails and "max@example.org" not in emails
    conn = await asyncpg.connect(svc.dsn)
    try:
        assert await conn.fetchval("SELECT status FROM request WHERE id = $1", cast.req_done.id) == "done"
        assert await conn.fetchval("SELECT count(*) FROM request_school WHERE request_id = $1", cast.req_done.id) == 0
        processed = await conn.fetchval("SELECT count(*) FROM inbox_message WHERE message_id = $1", str(late.event_id))
        assert processed == 1
    finally:
        await conn.close()


async def test_a_requester_who_changes_school_moves_their_requests_to_the_new_schools_managers(svc, cast):
    before = await preview(svc, cast.district)
    assert str(cast.req_a.id) in before["mia@example.org"] and str(cast.req_a.id) not in before["max@example.org"]
    await svc.world.put_user(cast.pupil_a, school_ids=["sch-b"], family_name="Renamed")
    after = await preview(svc, cast.district)
    assert str(cast.req_a.id) not in after["mia@example.org"]
    assert str(cast.req_a.id) in after["max@example.org"]
    r = await svc.client.post(RUN, json={"district_id": cast.district, "dry_run": True}, headers=svc.system)
    text = next(e["text"] for e in r.json()["emails"] if e["to"] == "max@example.org")
    assert "Rita Renamed" in text


async def test_permissions_and_deactivation_decide_who_receives_a_digest(svc, cast):
    w = svc.world
    await w.put_user(cast.manager_a, permissions=cast.manager_a.permissions.model_copy(update={"users_manager": None}))
    await w.put_user(cast.manager_b, active=False)                       # directory.user.deactivated
    promoted = await w.put_user(cast.admin, permissions=cast.admin.permissions.model_copy(
        update={"users_manager": cast.district_manager.permissions.users_manager}))
    emails = await preview(svc, cast.district)
    assert set(emails) == {cast.district_manager.email, promoted.email}


async def test_a_school_name_change_shows_in_the_next_digest(svc, cast):
    await svc.world.school(cast.district, "sch-a", "Alder Academy")
    r = await svc.client.post(RUN, json={"district_id": cast.district, "dry_run": True}, headers=svc.system)
    text = next(e["text"] for e in r.json()["emails"] if e["to"] == "mia@example.org")
    assert "Alder Academy" in text and "Alder Elementary" not in text


async def test_many_requests_arrive_and_the_scope_counts_stay_exact(svc, cast):
    w = svc.world
    both = await w.user(cast.district, schools=[], email="both@example.org", manager=["sch-a", "sch-b"])
    now = svc.clock()
    for i in range(60):
        pupil = (cast.pupil_a, cast.pupil_b, cast.pupil_ab)[i % 3]
        await w.request(pupil, submitted_at=now - timedelta(minutes=10 + i), wait=False)
    await w.settle()
    r = await svc.client.post(RUN, json={"district_id": cast.district, "dry_run": True}, headers=svc.system)
    emails = {e["to"]: e for e in r.json()["emails"]}
    # 20 each for a, b and a+b, plus the cast's 3 open ones; the listing stops at 25 (the default)
    assert emails["dora@example.org"]["subject"] == "63 new profile update requests"
    assert emails["mia@example.org"]["subject"] == "42 new profile update requests"   # a + ab
    assert emails["max@example.org"]["subject"] == "42 new profile update requests"   # b + ab
    # a manager of both schools sees every request once: the district's, newest first
    assert emails["both@example.org"]["subject"] == "63 new profile update requests"
    assert emails["both@example.org"]["request_ids"] == emails["dora@example.org"]["request_ids"]
    assert len(emails["dora@example.org"]["request_ids"]) == 25
    assert "...and 38 more open requests" in emails["dora@example.org"]["text"]
    assert "...and 17 more open requests" in emails["mia@example.org"]["text"]
    assert str(both.id) == emails["both@example.org"]["recipient_id"]


async def test_events_of_one_request_handled_at_the_same_time_leave_a_consistent_school_index(svc, cast):
    """Up to `prefetch` messages are handled at once: a request's submission and its Mark as Done
    (and a Restore) arriving together must still leave index rows for New requests only."""
    w = svc.world
    done, restored = [], []
    for i in range(40):
        pupil = (cast.pupil_a, cast.pupil_b, cast.pupil_ab)[i % 3]
        snapshot = await w.request(pupil, wait=False)
        await w.mark_done(snapshot, wait=False)
        if i % 4 == 0:
            await w.restore(snapshot, wait=False)
            restored.append(snapshot)
        else:
            done.append(snapshot)
    await w.settle()
    conn = await asyncpg.connect(asyncpg_dsn(svc.db_url))
    try:
        stale = await conn.fetchval("SELECT count(*) FROM request_school WHERE request_id = ANY($1::uuid[])",
                                    [r.id for r in done])
        indexed = await conn.fetch("SELECT request_id, school_id FROM request_school WHERE request_id = ANY($1::uuid[])",
                                   [r.id for r in restored])
        statuses = await conn.fetch("SELECT status, count(*) FROM request WHERE id = ANY($1::uuid[]) GROUP BY status",
                                    [r.id for r in done + restored])
    finally:
        await conn.close()
    assert stale == 0
    assert {(row["request_id"], row["school_id"]) for row in indexed} == {
        (r.id, school) for r in restored for school in r.school_ids}
    assert {row["status"]: row["count"] for row in statuses} == {"done": len(done), "new": len(restored)}


async def test_the_projection_tables_match_the_orm(svc):
    from digest_service.adapters.orm import metadata

    conn = await asyncpg.connect(asyncpg_dsn(svc.db_url))
    try:
        for table in metadata.sorted_tables:
            columns = {r["column_name"] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table.name)}
            assert columns == set(table.columns.keys()), table.name
    finally:
        await conn.close()
