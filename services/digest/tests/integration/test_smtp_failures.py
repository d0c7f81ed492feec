"""SMTP trouble: transient failures retried with backoff, permanent ones recorded and left alone,
and a message that may have been accepted never sent twice."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from pur_kit.testing import free_port

RUN = "/api/v1/digests/run"
LOG = "/api/v1/digests"


async def run(svc, district: str) -> dict:
    r = await svc.client.post(RUN, json={"district_id": district}, headers=svc.system)
    assert r.status_code == 200, r.text
    return r.json()


async def log_of(svc, district: str) -> dict[str, dict]:
    r = await svc.client.get(LOG, params={"district_id": district}, headers=svc.system)
    return {item["recipient"]["id"]: item for item in r.json()["items"]}


async def point_mailer_at(svc, port: int) -> None:
    await svc.runtime.parts.mailer.close()
    svc.runtime.parts.mailer.options = dataclasses.replace(svc.runtime.parts.mailer.options, port=port, timeout=5)


def outcome_of(result: dict, user) -> dict:
    return next(d for d in result["runs"][0]["deliveries"] if d["recipient_id"] == str(user.id))


@pytest.mark.parametrize("where", ["rcpt", "data"])
async def test_a_transient_refusal_is_retried_after_the_backoff_and_then_sent_once(svc, cast, where):
    if where == "rcpt":
        svc.mailbox.rcpt_replies[cast.manager_a.email] = ["451 4.3.0 Mailbox busy, try again later"]
    else:
        svc.mailbox.data_replies.append("452 4.3.1 Insufficient system storage")
    result = await run(svc, cast.district)
    failed = [d for d in result["runs"][0]["deliveries"] if d["status"] == "retrying"]
    assert len(failed) == 1 and result["sent"] == 2
    entry = (await log_of(svc, cast.district))[failed[0]["recipient_id"]]
    assert entry["status"] == "retrying" and entry["attempts"] == 1 and "45" in entry["last_error"]
    # not before the backoff ends
    svc.clock.advance(timedelta(seconds=30))
    assert (await svc.runtime.parts.scheduler.tick()).retried == 0
    svc.clock.advance(timedelta(seconds=31))
    assert (await svc.runtime.parts.scheduler.tick()).retried == 1
    entry = (await log_of(svc, cast.district))[failed[0]["recipient_id"]]
    assert entry["status"] == "sent" and entry["attempts"] == 2
    assert sorted(svc.mailbox.count_by_recipient().values()) == [1, 1, 1]
    resent = next(m for m in svc.mailbox.messages if m["Message-ID"] == entry["message_id"])
    assert resent is not None   # the same Message-ID on every attempt of a delivery


async def test_an_unreachable_server_is_retried_until_it_is_back(svc, cast, harness):
    port = free_port()   # nothing listens here yet: connection refused
    await point_mailer_at(svc, port)
    result = await run(svc, cast.district)
    assert result["retrying"] == 3 and result["sent"] == 0
    assert all(e["last_error"].startswith("connect:") for e in (await log_of(svc, cast.district)).values())
    box = harness.Mailbox()
    with harness.smtp_server(box, port):
        svc.clock.advance(timedelta(seconds=61))
        assert (await svc.runtime.parts.scheduler.tick()).retried == 3
        svc.clock.advance(timedelta(hours=1))
        await svc.runtime.parts.scheduler.tick()
    assert box.count_by_recipient() == {cast.manager_a.email: 1, cast.manager_b.email: 1,
                                        cast.district_manager.email: 1}
    assert {e["status"] for e in (await log_of(svc, cast.district)).values()} == {"sent"}


@pytest.mark.parametrize("where", ["rcpt", "data"])
async def test_a_permanent_refusal_is_recorded_and_never_retried(svc, cast, where):
    if where == "rcpt":
        svc.mailbox.rcpt_replies[cast.manager_b.email] = ["550 5.1.1 No such user"]
    else:
        svc.mailbox.data_replies.append("554 5.6.0 Message rejected")
    result = await run(svc, cast.district)
    assert result["failed"] == 1 and result["sent"] == 2
    (failed,) = [d for d in result["runs"][0]["deliveries"] if d["status"] == "failed_permanent"]
    for _ in range(3):
        svc.clock.advance(timedelta(hours=1))
        assert (await svc.runtime.parts.scheduler.tick()).retried == 0
    assert (await run(svc, cast.district))["sent"] == 0          # a forced run does not retry it either
    entry = (await log_of(svc, cast.district))[failed["recipient_id"]]
    assert entry["status"] == "failed_permanent" and entry["attempts"] == 1 and "55" in entry["last_error"]
    assert len(svc.mailbox.messages) == 2


async def test_retries_are_bounded(svc, cast):
    svc.mailbox.rcpt_replies[cast.manager_a.email] = ["421 4.7.0 Try again later"] * 10
    assert outcome_of(await run(svc, cast.district), cast.manager_a)["status"] == "retrying"
    for _ in range(6):
        svc.clock.advance(timedelta(hours=2))
        await svc.runtime.parts.scheduler.tick()
    entry = (await log_of(svc, cast.district))[str(cast.manager_a.id)]
    assert entry["status"] == "failed_permanent" and entry["attempts"] == svc.settings.max_attempts
    assert "gave up after 5 attempts" in entry["last_error"]
    assert svc.mailbox.to(cast.manager_a.email) == []


async def test_a_retry_is_cancelled_when_nothing_is_new_any_more(svc, cast):
    svc.mailbox.rcpt_replies[cast.manager_b.email] = ["451 4.3.0 later"]
    await run(svc, cast.district)
    await svc.world.mark_done(cast.req_b)
    await svc.world.mark_done(cast.req_ab)
    svc.clock.advance(timedelta(minutes=2))
    await svc.runtime.parts.scheduler.tick()
    entry = (await log_of(svc, cast.district))[str(cast.manager_b.id)]
    assert entry["status"] == "cancelled" and svc.mailbox.to(cast.manager_b.email) == []


class DropsAfterData:
    """Takes the whole message, then hangs up instead of answering: did the server keep it?"""

    def __init__(self, mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        server.transport.close()
        return "250 never heard"


async def test_a_connection_lost_after_the_message_was_handed_over_is_unknown_and_never_resent(svc, cast, harness):
    box = harness.Mailbox()
    with harness.smtp_server(DropsAfterData(box)) as controller:
        await point_mailer_at(svc, controller.port)
        result = await run(svc, cast.district)
    assert result["failed"] == 3 and result["retrying"] == 0
    entries = (await log_of(svc, cast.district)).values()
    assert {e["status"] for e in entries} == {"unknown"}
    assert all(e["last_error"].startswith("data:") for e in entries)
    svc.clock.advance(timedelta(hours=1))
    await svc.runtime.parts.scheduler.tick()
    assert (await run(svc, cast.district))["sent"] == 0 and svc.mailbox.messages == []
