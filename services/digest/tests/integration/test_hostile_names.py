"""Names with line breaks or bidi overrides: refused at the projection's door, and harmless in the
email even when a row stored before that rule still holds one (a real aiosmtpd server receives)."""
from __future__ import annotations

from pur_kit.consumer import REASON_HEADER
from pur_kit.testing import drain_queue, wait_until

RUN = "/api/v1/digests/run"
EXPECTED_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
                    "Auto-Submitted", "X-Auto-Response-Suppress", "MIME-Version", "Content-Type"}


async def test_a_manager_name_with_line_breaks_never_becomes_an_email_header(svc, harness):
    w, d = svc.world, harness.new_district()
    await w.settings(d, wait=False)
    eve = await w.user(d, schools=["sch-a"], given="Eve", family="Evans", email="eve@example.org",
                       manager=["sch-a"], wait=False)
    nox = await w.user(d, schools=["sch-a"], given="Nox", family="Night", email="nox@example.org",
                       manager=["sch-a"], wait=False)
    ada = await w.user(d, schools=["sch-a"], given="Ada", family="Plain", email="ada@example.org",
                       manager=["sch-a"], wait=False)
    pupil = await w.user(d, schools=["sch-a"], given="Rita", family="Requester", role="student", wait=False)
    await w.request(pupil, wait=False)
    await w.settle()
    # Rows stored before the contracts refused such names (the events of today are dead-lettered).
    await w.fetchval("UPDATE directory_user SET given_name = $2 WHERE id = $1", eve.id, "Eve\r\nBcc: x@evil.example")
    await w.fetchval("UPDATE directory_user SET family_name = $2 WHERE id = $1", nox.id,
                     "Night\nBcc: y@evil.example\nX-Injected: yes")

    r = await svc.client.post(RUN, json={"district_id": d}, headers=svc.system)
    assert r.status_code == 200, r.text
    assert r.json()["sent"] == 3 and r.json()["failed"] == 0
    assert svc.mailbox.count_by_recipient() == {"eve@example.org": 1, "nox@example.org": 1, "ada@example.org": 1}
    for manager in (eve, nox, ada):
        (message,) = svc.mailbox.to(manager.email)
        assert message.envelope_to == [manager.email]              # nobody else on the envelope
        assert set(message.keys()) == EXPECTED_HEADERS             # no Bcc, no injected header
        (to,) = message["To"].addresses
        assert to.addr_spec == manager.email
        assert "\r" not in to.display_name and "\n" not in to.display_name
        assert message.defects == []
    (eve_mail,) = svc.mailbox.to(eve.email)
    assert eve_mail["To"].addresses[0].display_name == "Eve Bcc: x@evil.example Evans"
    assert "Hello Eve Bcc: x@evil.example," in eve_mail.get_body(("plain",)).get_content()


async def test_a_directory_event_with_a_line_break_in_a_name_is_dead_lettered_naming_the_field(svc, harness):
    w, d = svc.world, harness.new_district()
    user = await w.user(d, schools=["sch-a"], given="Eve", family="Evans", email="eve@example.org",
                        manager=["sch-a"])
    # model_copy skips validation: this is what a buggy or hostile producer could put on the wire.
    await w.put_user(user, wait=False, given_name="Eve\r\nBcc: x@evil.example")
    await w.put_user(user, wait=False, family_name="Evans\u202e")
    queue = svc.topology.dead_letter_queue(svc.topology.queue("digest"))
    found: list = []

    async def both_dead_lettered() -> bool:
        found.extend(await drain_queue(svc.rabbitmq_url, queue))
        return len(found) >= 2

    await wait_until(both_dead_lettered, message="the two events dead-lettered")
    reasons = sorted(m.headers[REASON_HEADER] for m in found)
    assert reasons == ["validation_error: user.family_name: string_pattern_mismatch",
                       "validation_error: user.given_name: string_pattern_mismatch"]
    row = await w.fetchval("SELECT given_name || '|' || family_name || '|' || version FROM directory_user "
                           "WHERE id = $1", user.id)
    assert row == "Eve|Evans|1"
