"""The email itself: multipart/alternative, headers, escaping, field names only."""
from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from digest_service.adapters.render import DigestRenderer, InvalidAddress, Links
from digest_service.domain.digest import DigestContent, Recipient, RequestLine

NOW = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
RENDERER = DigestRenderer("Profile Update Requests <no-reply@pur.example>",
                          Links("https://requests.example/", "https://settings.example"))


def content(email_address: str = "mia@example.org", requester: str = "Rita Requester", more: int = 0,
            last_digest_at=None) -> DigestContent:
    recipient = Recipient(uuid.uuid4(), "springfield", email_address, "Mia", "Alder", "schools", ("sch-a",),
                          last_digest_at=last_digest_at)
    lines = (
        RequestLine(uuid.uuid4(), requester, ("sch-a",), datetime(2026, 3, 8, 15, 5, tzinfo=UTC), ("email", "sms"),
                    True, True),
        RequestLine(uuid.uuid4(), "Bob Builder", ("sch-a", "sch-x"), datetime(2026, 3, 6, 14, tzinfo=UTC),
                    ("given_name",), False, False),
    )
    return DigestContent(recipient, NOW.date(), NOW, 2 + more, 1, lines[1].submitted_at, lines)


def render(c: DigestContent):
    rendered = RENDERER.render(c, school_names={"sch-a": "Alder Elementary"}, zone=ZoneInfo("America/New_York"),
                               delivery_id=uuid.UUID(int=7), now=NOW)
    return rendered, email.message_from_bytes(rendered.data, policy=email.policy.default)


def test_the_message_is_multipart_alternative_with_proper_headers():
    rendered, msg = render(content())
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["From"] == "Profile Update Requests <no-reply@pur.example>"
    assert msg["To"].addresses[0].addr_spec == "mia@example.org"
    assert msg["To"].addresses[0].display_name == "Mia Alder"
    assert msg["Message-ID"] == f"<digest.{uuid.UUID(int=7)}@pur.example>"
    assert email.utils.parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Subject"] == "1 new profile update request, 2 open in total" == rendered.subject
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == rendered.text
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == rendered.html


def test_each_request_shows_requester_school_local_time_field_names_and_the_applied_flag():
    rendered, _ = render(content())
    for part in (rendered.text, rendered.html):
        assert "Rita Requester" in part and "Bob Builder" in part
        assert "Alder Elementary" in part and "sch-x" in part          # unknown school: its id
        assert "Sun Mar 8, 2026 11:05 EDT" in part                     # 15:05 UTC, after spring forward
        assert "Fri Mar 6, 2026 09:00 EST" in part
        assert "email, SMS number" in part and "given name" in part
        assert "appears applied in sis" in part.lower()
        assert "https://requests.example/manage-requests?tab=new" in part
        assert "Users Manager permission in springfield" in part
        assert "https://settings.example/districts/springfield/settings" in part
        assert "waiting 2 days" in part
    for request_id in rendered.request_ids:   # each row links to the request's details
        assert f'href="https://requests.example/manage-requests/{request_id}"' in rendered.html


def test_the_html_part_escapes_names_and_the_text_part_keeps_them_verbatim():
    rendered, _ = render(content(requester="<script>alert(1)</script> O'Hara"))
    assert "<script>" not in rendered.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>alert(1)</script> O'Hara" in rendered.text


def test_requests_beyond_the_listing_are_counted():
    rendered, _ = render(content(more=48))
    assert "...and 48 more open requests on Manage Requests." in rendered.text
    assert "and 48 more open requests" in rendered.html


def test_the_headline_mentions_new_requests_after_the_first_digest():
    first, _ = render(content())
    later, _ = render(content(last_digest_at=NOW - timedelta(days=1)))
    assert "You have 2 open profile update requests to review." in first.text
    assert "You have 2 open profile update requests to review, 1 new since your last digest." in later.text


@pytest.mark.parametrize("address", ["", "not-an-address", "x@", "<b>@example.org", "jos\u00e9@example.org"])
def test_an_unusable_address_is_refused_before_anything_is_claimed(address):
    with pytest.raises(InvalidAddress):
        render(content(email_address=address))


def test_names_outside_ascii_survive_headers_and_bodies():
    c = content(requester="Zo\u00eb \u00d6zt\u00fcrk")
    c = DigestContent(c.recipient.__class__(**{**{f: getattr(c.recipient, f) for f in c.recipient.__slots__},
                                               "given_name": "J\u00fcrgen", "family_name": "M\u00fcller"}),
                      c.local_date, c.as_of, c.total_open, c.new_since_last, c.oldest_submitted_at, c.requests)
    rendered, msg = render(c)
    assert rendered.data.isascii()                      # 7-bit on the wire: quoted-printable, RFC 2047
    assert msg["To"].addresses[0].display_name == "J\u00fcrgen M\u00fcller"
    assert "Zo\u00eb \u00d6zt\u00fcrk" in msg.get_body(("plain",)).get_content()
    assert "Hello J\u00fcrgen," in msg.get_body(("html",)).get_content()


def test_control_and_bidi_characters_stored_before_the_rules_never_reach_headers_or_bodies():
    c = content(requester="Eve\u202enimda\r\nBcc: x@evil.example")
    c = DigestContent(c.recipient.__class__(**{**{f: getattr(c.recipient, f) for f in c.recipient.__slots__},
                                               "given_name": "Mia\r\nBcc: y@evil.example", "family_name": "\u2066A"}),
                      c.local_date, c.as_of, c.total_open, c.new_since_last, c.oldest_submitted_at, c.requests)
    rendered, msg = render(c)
    assert msg["Bcc"] is None and msg.defects == []
    assert [a.addr_spec for a in msg["To"].addresses] == ["mia@example.org"]
    assert msg["To"].addresses[0].display_name == "Mia Bcc: y@evil.example A"
    for part in (rendered.text, rendered.html):
        assert "\u202e" not in part and "\u2066" not in part and "Eve nimda Bcc: x@evil.example" in part
