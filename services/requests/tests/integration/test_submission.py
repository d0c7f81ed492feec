"""Submitting a request: rules, validation, idempotency, the disabled-feature reasons, events."""
from __future__ import annotations

import asyncio
import json

from prometheus_client import REGISTRY
from pur_kit.auth import mint_token
from pur_kit.testing import EventSpy

API = "/api/v1/requests"


async def submit(svc, user, body, **headers):
    return await svc.client.post(API, json=body, headers={**svc.headers(user), **headers})


async def test_a_user_submits_a_request_and_it_is_published_with_field_names_only(svc, cast):
    async with EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["request.#"]) as spy:
        r = await submit(svc, cast.requester_a, {"changes": {"email": "Rita.New@Example.org",
                                                             "phone": "+1 (555) 555-0199"},
                                                 "note": "New job, new address."})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "new" and body["appears_applied"] is False
        assert body["requester"] == {"id": str(cast.requester_a.id), "name": "Rita Requester",
                                     "school_ids": ["sch-a"]}
        assert body["changes"] == [
            {"field": "email", "current": "rita@example.org", "requested": "Rita.New@example.org"},
            {"field": "phone", "current": "+15555550100", "requested": "+15555550199"},
        ]
        assert body["note"] == "New job, new address."
        (event,) = await spy.wait_for(1, "request.submitted")
    assert event["version"] == 1 and event["district_id"] == cast.district
    assert event["request"]["fields"] == ["email", "phone"] and event["request"]["has_note"] is True
    assert "Rita.New" not in json.dumps(event) and "5550199" not in json.dumps(event)

    r = await svc.client.get(f"{API}/mine", headers=svc.headers(cast.requester_a))
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [body["id"]]


async def test_the_same_idempotency_key_returns_the_same_request_and_creates_nothing_new(svc, cast):
    body = {"changes": {"given_name": "Margarita"}}
    first = await submit(svc, cast.requester_a, body, **{"Idempotency-Key": "k-1"})
    again = await asyncio.gather(*(submit(svc, cast.requester_a, body, **{"Idempotency-Key": "k-1"})
                                   for _ in range(3)))
    assert first.status_code == 201
    assert {r.status_code for r in again} == {200}
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    assert await svc.world.fetchval("SELECT count(*) FROM request WHERE requester_id = $1", cast.requester_a.id) == 1
    assert await svc.world.fetchval("SELECT count(*) FROM request_history") == 1

    other_body = await submit(svc, cast.requester_a, {"changes": {"given_name": "Marga"}}, **{"Idempotency-Key": "k-1"})
    assert other_body.status_code == 409 and other_body.json()["error"]["code"] == "conflict"
    someone_else = await submit(svc, cast.requester_b, body, **{"Idempotency-Key": "k-1"})
    assert someone_else.status_code == 201 and someone_else.json()["id"] != first.json()["id"]


def group_statements() -> tuple[float, float]:
    """(submissions, statements) written so far by this process's SubmissionWriters."""
    sample = REGISTRY.get_sample_value
    return (sample("requests_submission_group_size_sum") or 0.0,
            sample("requests_submission_group_size_count") or 0.0)


async def test_submissions_arriving_together_are_each_answered_on_their_own(svc, cast):
    """Concurrent submissions: good ones, refused ones and a retried key arriving together each get
    their own answer, and each good one exactly one request and event. With 4 connections for 28
    submissions most are written in groups (service_layer/submission.py)."""
    w, d = svc.world, cast.district
    people = [await w.user(d, schools=["sch-a" if i % 2 else "sch-b"], given=f"P{i}", wait=False)
              for i in range(24)]
    await w.settle()
    async with EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["request.submitted"]) as spy:
        calls = [submit(svc, p, {"note": f"note {i}"}, **{"Idempotency-Key": f"k{i}"}) for i, p in enumerate(people)]
        calls += [submit(svc, people[0], {"note": "note 0"}, **{"Idempotency-Key": "k0"}),   # a retry
                  submit(svc, people[1], {"changes": {"email": "not-an-email"}}),           # invalid
                  submit(svc, cast.other_manager, {"note": "other district"}),             # its own district only
                  submit(svc, people[2], {"note": "changed body"}, **{"Idempotency-Key": "k2"})]
        before = group_statements()
        answers = await asyncio.gather(*calls)
        submissions, statements = (a - b for a, b in zip(group_statements(), before, strict=True))
        await spy.wait_for(24, "request.submitted")
        await asyncio.sleep(0.3)   # a duplicate event would have arrived by now
    retry, invalid, other, reused = answers[24:]
    # Whichever of two submissions with one key is written first wins; the other answers with it
    # (same body: 200 and the same request) or is refused (another body: 409).
    assert sorted([answers[0].status_code, retry.status_code]) == [200, 201]
    assert answers[0].json()["id"] == retry.json()["id"]
    assert sorted([answers[2].status_code, reused.status_code]) == [201, 409]
    assert [r.status_code for i, r in enumerate(answers[:24]) if i not in (0, 2)] == [201] * 22
    assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "email"
    assert other.status_code == 201 and other.json()["district_id"] == cast.other_district
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(created) == 25   # 24 people (one of them through the k2 body that won) + the other district
    events = spy.of_type("request.submitted")
    assert len(events) == 25 and {e["request"]["id"] for e in events} == created
    assert submissions >= 26 and statements < submissions / 2, (submissions, statements)  # grouped
    for r, person in zip(answers[:24], people, strict=True):
        if r.status_code == 201:
            assert r.json()["requester"]["id"] == str(person.id)
            assert r.json()["requester"]["school_ids"] == ["sch-a" if int(person.given_name[1:]) % 2 else "sch-b"]


async def test_invalid_values_are_refused_naming_the_field(svc, cast):
    cases = [
        ({"changes": {"email": "not-an-email"}}, "email"),
        ({"changes": {"phone": "555-0100"}}, "phone"),
        ({"changes": {"sms": "+0123456789"}}, "sms"),
        ({"changes": {"given_name": "   "}}, "given_name"),
        ({"changes": {"family_name": "x" * 101}}, "family_name"),
        ({"changes": {"family_name": "Smith\u0000"}}, "family_name"),
        ({"note": "n" * 2001}, "note"),
        ({"changes": {}}, "changes"),
        ({}, "changes"),
        ({"note": "   "}, "changes"),
        # equal to the current value, whatever the spelling
        ({"changes": {"email": "RITA@example.org"}}, "email"),
        ({"changes": {"phone": "+1 (555) 555.0100"}}, "phone"),
        ({"changes": {"given_name": "Rita"}}, "given_name"),
    ]
    for body, field in cases:
        r = await submit(svc, cast.requester_a, body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error"
        assert r.json()["error"]["field"] == field, (body, r.json())


async def test_unknown_fields_wrong_types_and_oversized_bodies_are_422(svc, cast):
    for body in ({"changes": {"nickname": "Rit"}}, {"changes": {"email": 42}}, {"changes": {"email": None}},
                 {"note": ["a"]}, {"changes": {"email": "a@b.org"}, "extra": True}, {"changes": "email"}):
        r = await submit(svc, cast.requester_a, body)
        assert r.status_code == 422, (body, r.text)
    r = await svc.client.post(API, content=json.dumps({"note": "x" * 70_000}),
                              headers={**svc.headers(cast.requester_a), "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    r = await svc.client.post(API, content=b"{not json", headers={**svc.headers(cast.requester_a),
                                                                  "content-type": "application/json"})
    assert r.status_code == 422
    assert await svc.world.fetchval("SELECT count(*) FROM request") == 0


async def test_missing_forged_or_expired_tokens_are_401(svc, cast):
    assert (await svc.client.post(API, json={"note": "hi"})).status_code == 401
    forged = mint_token("another-secret-that-is-long-enough-0123456789", sub=str(cast.requester_a.id),
                        district_id=cast.district)
    r = await svc.client.post(API, json={"note": "hi"}, headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await svc.client.post(API, json={"note": "hi"}, headers=svc.headers(cast.requester_a, ttl=-10))
    assert r.status_code == 401
    r = await svc.client.get(API, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_only_active_users_of_the_district_can_submit(svc, cast):
    w = svc.world
    gone = await w.user(cast.district, schools=["sch-a"], active=False)
    r = await submit(svc, gone, {"note": "hello"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # a token naming another district than the directory's is refused, whatever it claims
    liar = gone.model_copy(update={"id": cast.requester_a.id, "district_id": cast.other_district})
    r = await submit(svc, liar, {"note": "hello"})
    assert r.status_code == 403
    r = await svc.client.post(API, json={"note": "hi"}, headers=svc.system)
    assert r.status_code == 403


async def test_disabled_feature_explains_why_and_enabling_by_event_needs_no_restart(svc):
    w, d = svc.world, svc.new_district()
    user = await w.user(d, schools=["s1"], email="u@example.org")

    r = await submit(svc, user, {"note": "no settings known yet: off by default"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "feature_disabled"

    await w.settings(d, enabled=False, contact_auto=True)
    r = await submit(svc, user, {"changes": {"email": "new@example.org"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "feature_disabled"
    message = r.json()["error"]["message"]
    assert "SIS" in message and "school office" in message

    await w.settings(d, enabled=False, contact_auto=False)
    r = await submit(svc, user, {"changes": {"email": "new@example.org"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "feature_disabled"
    message = r.json()["error"]["message"]
    assert "edit your own email, phone and SMS" in message and "school office" not in message

    await w.settings(d, enabled=True, contact_auto=False)
    r = await submit(svc, user, {"changes": {"email": "new@example.org"}})
    assert r.status_code == 201, r.text


async def test_an_older_settings_event_does_not_undo_a_newer_one_and_duplicates_apply_once(svc):
    from pur_contracts import DistrictSettings, DistrictSettingsChanged

    w, d = svc.world, svc.new_district()
    user = await w.user(d, schools=["s1"])
    await w.settings(d, enabled=True)   # v1
    await w.settings(d, enabled=True)   # v2
    stale = DistrictSettingsChanged(district_id=d, version=1, settings=DistrictSettings(
        district_id=d, version=1, profile_update_requests_enabled=False))
    await w.publish(stale)
    await w.publish(stale)  # the same message again
    from pur_kit.testing import wait_until

    await wait_until(lambda: w.fetchval("SELECT count(*) FROM inbox_message WHERE message_id = $1",
                                        str(stale.event_id)), message="stale event consumed")
    assert await w.fetchval("SELECT version FROM district_settings WHERE district_id = $1", d) == 2
    r = await submit(svc, user, {"note": "still enabled"})
    assert r.status_code == 201


async def test_personal_values_never_reach_the_logs(svc, cast, capsys):
    secret_note = "my new partner is Zebediah Q"
    r = await submit(svc, cast.requester_a, {"changes": {"email": "zebediah.q@example.org",
                                                         "family_name": "Quux-Zebediah"}, "note": secret_note})
    assert r.status_code == 201
    await svc.client.post(f"{API}/{r.json()['id']}/mark-done", headers=svc.headers(cast.manager_a))
    await svc.client.get(API, params={"q": "Zebediah"}, headers=svc.headers(cast.manager_a))
    await svc.world.put_user(cast.requester_a, family_name="Quux-Zebediah")
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "http_request" in logged   # the access log ran
    for value in ("Zebediah", "zebediah", "rita@example.org", "5555550100", "Requester"):
        assert value not in logged, value
