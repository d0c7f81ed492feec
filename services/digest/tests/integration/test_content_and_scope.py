"""Who gets a digest and what it lists: scope, New only, both parts agree; where nothing is sent."""
from __future__ import annotations

import re

from pur_kit.testing import EventSpy

RUN = "/api/v1/digests/run"
REQUEST_LINK = re.compile(r'href="http://requests.test/manage-requests/([0-9a-f-]{36})"')
TEXT_ROW = re.compile(r"^\* (.+?) \((.+?)\), ", re.MULTILINE)
HTML_ROW = re.compile(r'<a class="requester" href="[^"]+"[^>]*>(.+?)</a>.*?<span class="meta"[^>]*>(.+?), submitted ',
                      re.DOTALL)


async def run(svc, district: str, **body) -> dict:
    r = await svc.client.post(RUN, json={"district_id": district, **body}, headers=svc.system)
    assert r.status_code == 200, r.text
    return r.json()


def parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def listed_ids(html: str) -> list[str]:
    return REQUEST_LINK.findall(html)


def listed_rows(text: str, html: str) -> list[tuple[str, str]]:
    """(requester, schools) of each listed request; both parts must list the same, in the same order."""
    rows = TEXT_ROW.findall(text)
    assert rows == HTML_ROW.findall(html)
    return rows


async def test_each_manager_gets_exactly_the_new_requests_of_their_scope(svc, cast):
    result = await run(svc, cast.district)
    assert result["sent"] == 3 and result["failed"] == 0
    expected = [
        (cast.district_manager, [cast.req_ab, cast.req_b, cast.req_a]),   # newest first
        (cast.manager_a, [cast.req_ab, cast.req_a]),
        (cast.manager_b, [cast.req_ab, cast.req_b]),
    ]
    for manager, requests in expected:
        (message,) = svc.mailbox.to(manager.email)
        text, html = parts(message)
        assert listed_ids(html) == [str(r.id) for r in requests]        # exactly these, newest first
        assert [name for name, _ in listed_rows(text, html)] == [r.requester_name for r in requests]
        assert str(cast.req_done.id) not in text + html                  # Marked as Done: absent
        assert message["Subject"] == f"{len(requests)} new profile update requests"
        assert "http://requests.test/manage-requests?tab=new" in text
        assert f"http://settings.test/districts/{cast.district}/settings" in html
    text_a, html_a = parts(svc.mailbox.to(cast.manager_a.email)[0])
    assert "Bob Builder" not in text_a + html_a                           # another school's pupil
    assert "appears applied in SIS" in text_a and "Appears applied in SIS" in html_a
    assert ("Cleo Both", "Alder Elementary, Birch High") in listed_rows(text_a, html_a)
    assert "email, phone" in text_a and "rita@example.org" not in text_a  # field names, never values
    assert svc.mailbox.to(cast.admin.email) == []                         # not a Users Manager


async def test_a_request_done_and_restored_is_listed_again(svc, cast):
    await svc.world.mark_done(cast.req_b)
    await svc.world.restore(cast.req_done)
    await run(svc, cast.district)
    _, html = parts(svc.mailbox.to(cast.manager_b.email)[0])
    assert listed_ids(html) == [str(cast.req_ab.id)]
    _, html = parts(svc.mailbox.to(cast.manager_a.email)[0])
    assert str(cast.req_done.id) in listed_ids(html)


async def test_nothing_is_sent_to_a_manager_with_nothing_new(svc, cast):
    w = svc.world
    lonely = await w.user(cast.district, schools=["sch-c"], email="lonely@example.org", manager=["sch-c"])
    result = await run(svc, cast.district)
    assert svc.mailbox.to(lonely.email) == []
    (outcome,) = [d for d in result["runs"][0]["deliveries"] if d["recipient_id"] == str(lonely.id)]
    assert outcome["status"] == "skipped" and outcome["reason"] == "nothing_new"
    log = (await svc.client.get("/api/v1/digests", params={"district_id": cast.district}, headers=svc.system)).json()
    assert str(lonely.id) not in {item["recipient"]["id"] for item in log["items"]}


async def test_nothing_is_sent_while_the_feature_is_disabled(svc, cast):
    await svc.world.settings(cast.district, enabled=False)
    result = await run(svc, cast.district)
    assert result["runs"][0]["status"] == "feature_disabled" and result["sent"] == 0
    assert (await run(svc, cast.district, dry_run=True))["emails"] == []
    assert svc.mailbox.messages == []


async def test_nothing_is_sent_while_the_digest_preference_is_off(svc, cast):
    await svc.world.settings(cast.district, digest=False)
    result = await run(svc, cast.district)
    assert result["runs"][0]["status"] == "digest_disabled" and result["sent"] == 0
    assert svc.mailbox.messages == []


async def test_inactive_managers_and_managers_without_email_get_nothing(svc, cast):
    w = svc.world
    await w.put_user(cast.manager_b, active=False)
    no_email = await w.user(cast.district, schools=["sch-a"], manager=["sch-a"])
    result = await run(svc, cast.district)
    assert set(svc.mailbox.count_by_recipient()) == {cast.manager_a.email, cast.district_manager.email}
    reasons = {d["recipient_id"]: d["reason"] for d in result["runs"][0]["deliveries"]}
    assert reasons[str(no_email.id)] == "no_email"


async def test_a_dry_run_previews_the_emails_and_sends_and_claims_nothing(svc, cast):
    preview = await run(svc, cast.district, dry_run=True)
    emails = {e["to"]: e for e in preview["emails"]}
    assert set(emails) == {cast.manager_a.email, cast.manager_b.email, cast.district_manager.email}
    assert emails[cast.manager_a.email]["request_ids"] == [str(cast.req_ab.id), str(cast.req_a.id)]
    assert emails[cast.manager_a.email]["subject"] == "2 new profile update requests"
    assert "Rita Requester" in emails[cast.manager_a.email]["text"]
    assert "<table" in emails[cast.manager_a.email]["html"]
    assert svc.mailbox.messages == []
    log = (await svc.client.get("/api/v1/digests", params={"district_id": cast.district}, headers=svc.system)).json()
    assert log["items"] == []
    # the real run afterwards still sends everyone their one digest
    assert (await run(svc, cast.district))["sent"] == 3


async def test_each_sent_digest_is_announced_through_the_outbox(svc, cast):
    async with EventSpy(svc.rabbitmq_url, svc.topology.exchange, ["digest.sent"]) as spy:
        result = await run(svc, cast.district)
        events = await spy.wait_for(3, "digest.sent")
    sent = {d["delivery_id"]: d for d in result["runs"][0]["deliveries"] if d["status"] == "sent"}
    assert {e["delivery_id"] for e in events} == set(sent)
    by_recipient = {e["recipient_id"]: e for e in events}
    assert by_recipient[str(cast.district_manager.id)]["request_count"] == 3
    assert by_recipient[str(cast.manager_a.id)]["request_count"] == 2
    assert all(e["local_date"] == result["runs"][0]["local_date"] for e in events)


async def test_the_next_digest_counts_what_is_new_since_the_last_one(svc, cast):
    from datetime import timedelta

    await run(svc, cast.district)
    svc.clock.advance(timedelta(days=1))
    newer = await svc.world.request(cast.pupil_a, fields=("phone",), submitted_at=svc.clock() - timedelta(minutes=5))
    await run(svc, cast.district)
    (_, second) = svc.mailbox.to(cast.manager_a.email)
    assert second["Subject"] == "1 new profile update request, 3 open in total"
    text, html = parts(second)
    assert "New since your last digest: 1" in text and listed_ids(html)[0] == str(newer.id)
