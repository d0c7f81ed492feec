"""Scenario 4: poison messages of every kind, published straight onto the exchange with each
consumer's routing keys, each end in that consumer's `.dlq` with a reason; the services keep
running, and good messages published after them are applied."""
from __future__ import annotations

import json
import uuid

import aio_pika
from fault_harness.ledger import Ledger, bound, subscribers
from fault_harness.system import SERVICES
from pur_contracts import (
    EVENTS_BY_NAME,
    SUBSCRIPTIONS,
    Event,
    DirectoryReplayRequested,
    DirectoryUser,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
)
from pur_kit.consumer import REASON_HEADER

DISTRICT = "faults"
OVERSIZE = 10 * 1024 * 1024
# Fits the contract, but not the INTEGER version columns of the projections: the handler fails on
# this input every time (retried, then dead-lettered), whatever the state of the database.
VERSION_NO_COLUMN_HOLDS = 2**31


def exclusive_key(service: str) -> str:
    """A routing key bound to this service's queues only, so its poison reaches no one else."""
    keys = [k for (s, _), ks in SUBSCRIPTIONS.items() if s == service for k in ks]
    return next(k for k in keys if subscribers(k) == {service})


def as_json(event: Event) -> dict:
    return json.loads(event.model_dump_json())


def sample(event_name: str) -> dict:
    """A valid body of the event, as JSON-ready data."""
    fields = {"district_id": DISTRICT, "requested_by": "fault-suite", "version": 1}
    if event_name == "request.submitted":
        fields["request"] = {
            "id": str(uuid.uuid4()), "district_id": DISTRICT, "requester_id": str(uuid.uuid4()),
            "requester_name": "Ada Poison", "school_ids": ["sch-001"], "status": "new", "fields": ["email"],
            "has_note": False, "appears_applied": False, "submitted_at": "2026-01-05T10:00:00Z"}
    return as_json(EVENTS_BY_NAME[event_name].model_validate(fields))


def user_upserted(given_name: str = "Ada") -> DirectoryUserUpserted:
    return DirectoryUserUpserted(district_id=DISTRICT, version=1, user=DirectoryUser(
        id=uuid.uuid4(), district_id=DISTRICT, sis_id=f"poison-{uuid.uuid4().hex[:6]}", role="student",
        given_name=given_name, family_name="Good", school_ids=["sch-001"]))


def settings_changed(district_id: str = DISTRICT) -> DistrictSettingsChanged:
    return DistrictSettingsChanged(district_id=district_id, version=1,
                                   settings=DistrictSettings(district_id=district_id, version=1))


def poison_for(service: str) -> list[tuple[str, str, bytes, str | None]]:
    """(kind, routing key, body, type) of every poison aimed at one consumer."""
    key = exclusive_key(service)
    valid = sample(key)
    return [
        ("malformed JSON", key, b'{"event_id": "', key),
        ("non-UTF-8 bytes", key, json.dumps(valid).replace(DISTRICT, "fa\u00e9ults").encode("latin-1"), key),
        ("no type", key, json.dumps(valid).encode(), None),
        ("unknown type", key, json.dumps(valid).encode(), "no.such.event"),
        ("schema-invalid body", key, json.dumps({"district_id": DISTRICT, "version": "seven"}).encode(), key),
        ("wrong district id", key, json.dumps({**valid, "district_id": "\u0007bell\r\ninjected"}).encode(), key),
        ("oversize body (10 MB)", key, json.dumps({**valid, "padding": "x" * OVERSIZE}).encode(), key),
    ]


def poison_by_event() -> list[tuple[str, str, bytes, str | None]]:
    """Poison whose content only a kind of event carries, on that event's own routing key."""
    user, settings = as_json(user_upserted()), as_json(settings_changed())
    named = {**user, "user": {**user["user"], "given_name": "Eve\r\nBcc: x@evil.example"}}
    cases = [("control-character name", DirectoryUserUpserted.event_name, named),
             ("handler fails on its own input", DirectoryUserUpserted.event_name,
              {**user, "version": VERSION_NO_COLUMN_HOLDS}),
             ("handler fails on its own input", DistrictSettingsChanged.event_name,
              {**settings, "version": VERSION_NO_COLUMN_HOLDS})]
    return [(kind, key, json.dumps(body).encode(), key) for kind, key, body in cases]


async def test_poison_of_every_kind_is_dead_lettered_with_a_reason_and_good_messages_still_apply(
        start_system, record):
    system = await start_system()
    poison = [p for service in SERVICES for p in poison_for(service)] + poison_by_event()
    good_user, good_settings = user_upserted("Grace"), settings_changed("faults-good")
    good_replay = DirectoryReplayRequested(district_id="faults-good", requested_by="fault-suite")
    good = [good_user, good_settings, good_replay]
    ids = {f"poison-{i}": kind for i, (kind, *_) in enumerate(poison)}

    async with Ledger(system) as ledger:
        connection = await aio_pika.connect(system.rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(system.topology.exchange)
            outgoing = [(message_id, key, body, type_) for message_id, (_, key, body, type_) in zip(ids, poison)]
            outgoing += [(str(e.event_id), e.event_name, e.model_dump_json().encode(), e.event_name) for e in good]
            for message_id, key, body, type_ in outgoing:   # the good ones last
                await exchange.publish(aio_pika.Message(body, message_id=message_id, type=type_,
                                                        content_type="application/json"), routing_key=key)
        await ledger.settle(timeout=90)
        row = await record("4. poison messages of every kind", ledger)
        letters = await ledger.dead_letters()
        applied = await ledger.applied(ledger.expected())

    topology = system.topology
    found = {(queue, m.message_id): str((m.headers or {}).get(REASON_HEADER, ""))
             for queue, messages in letters.items() for m in messages}
    missing = {f"{ids[mid]} -> {dlq}" for mid, (_, key, *_) in zip(ids, poison, strict=True)
               for dlq in (topology.dead_letter_queue(topology.queue(*queue)) for queue in bound(key))
               if (dlq, mid) not in found}
    assert not missing, f"not in the .dlq of a queue they were routed to: {sorted(missing)}"
    assert all(found.values()), f"dead letters without a reason: {[k for k, v in found.items() if not v]}"
    for (_, mid), reason in found.items():
        refused_on_parse = ids.get(mid) != "handler fails on its own input"
        assert reason.startswith("handler_failed") != refused_on_parse, (ids.get(mid), reason)

    good_pairs = {(s, str(e.event_id)) for e in good for s in subscribers(e.event_name)}
    assert good_pairs <= applied, sorted(good_pairs - applied)
    # Every delivery was either applied or dead-lettered. (Not `deliveries - len(good)`: a service may
    # publish in the window too, e.g. a late start-up replay request, and those are applied.)
    assert row.lost == 0 and row.dead_lettered == len(found) == row.deliveries - row.applied, row
    for service in ("settings", "requests", "digest"):
        assert await system.fetchval(service, "SELECT count(*) FROM directory_user WHERE id = $1",
                                     good_user.user.id) == 1
    for service in ("sis_sync", "requests", "digest"):
        assert await system.fetchval(service, "SELECT count(*) FROM district_settings WHERE district_id = $1",
                                     "faults-good") == 1
    assert all(system.running().values()), system.running()
    await system.all_ready()
