"""The email itself: multipart/alternative, headers (one-click unsubscribe included), escaping, field
names only, the stylesheet inlined."""
from __future__ import annotations

import email
import email.policy
import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from digest_service.adapters.render import DigestRenderer, InvalidAddress, Links
from digest_service.domain.digest import DigestContent, Recipient, RequestLine
from pur_kit.auth import InvalidPurposeToken, PurposeTokens, decode_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.errors import ApiError

NOW = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
TOKENS = PurposeTokens(DEV_JWT_SECRET, "digest-unsubscribe")
RENDERER = DigestRenderer("Profile Update Requests <no-reply@pur.example>",
                          Links("https://requests.example/", "https://settings.example", "https://digest.example/",
                                TOKENS))


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
        assert "You get this email because you are a Users Manager. Unsubscribe: " in part
        assert "https://requests.example/notifications" in part
        assert "in springfield" in part
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


def test_every_email_carries_rfc_8058_one_click_headers_with_a_token_for_that_recipient_only():
    c = content()
    rendered, msg = render(c)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (url,) = re.fullmatch(r"<([^<>\s]+)>", str(msg["List-Unsubscribe"])).groups()
    assert url.startswith("https://digest.example/api/v1/digest/unsubscribe?token=")
    raw_header = rendered.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"List-Unsubscribe: <{url}>\r\n" in raw_header          # one line, not RFC 2047 words
    token = parse_qs(urlsplit(url).query)["token"][0]
    claims = TOKENS.verify(token)
    assert (claims.subject, claims.district_id) == (str(c.recipient.id), "springfield")
    with pytest.raises(ApiError):                                   # not a credential for anything else
        decode_token(token, DEV_JWT_SECRET)
    with pytest.raises(InvalidPurposeToken):
        PurposeTokens(DEV_JWT_SECRET, "another-purpose").verify(token)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_stylesheet_is_inlined_into_style_attributes_and_no_style_element_is_left():
    rendered, msg = render(content(more=3))
    html = msg.get_body(("html",)).get_content()
    parser = _Elements()
    parser.feed(html)
    tags = {tag for tag, _ in parser.tags}
    assert "style" not in tags and "link" not in tags and "<style" not in html.lower()
    styled = {attrs.get("class"): attrs["style"] for _, attrs in parser.tags if "style" in attrs}
    assert "max-width: 600px" in styled["wrap"]                      # fluid, at most 600 px wide
    assert "font-weight: 600" in styled["requester"]                 # rows are inlined too
    assert "display: inline-block" in styled["button"]
    widths = re.findall(r"(?<![-\w])width:\s*(\d+)px", html)       # no fixed width anywhere
    assert widths == []
    assert rendered.data.isascii()


def test_a_note_only_request_says_so_plainly_and_the_applied_badge_shows_only_where_it_applies():
    c = content()
    note_only = RequestLine(uuid.uuid4(), "Nora Note", ("sch-a",), NOW - timedelta(hours=1), (), True, False)
    c = DigestContent(c.recipient, c.local_date, c.as_of, 3, 1, c.oldest_submitted_at, (note_only, *c.requests))
    rendered, _ = render(c)
    for part in (rendered.text, rendered.html):
        assert "Note only" in part
        assert "none (a note only)" not in part and "(a note only) (with a note)" not in part
        assert "Changes: email, SMS number (with a note)" in part and "Changes: given name" in part
        assert part.lower().count("appears applied in sis") == 1     # Rita's row only; no empty SIS column
    assert "<th" not in rendered.html.split("Open requests, newest first", 1)[1]   # rows are not a table


def test_a_name_that_looks_like_the_rows_placeholder_is_only_text():
    c = content(requester="<!--digest-rows-->")
    c = DigestContent(c.recipient.__class__(**{**{f: getattr(c.recipient, f) for f in c.recipient.__slots__},
                                               "given_name": "<!--digest-rows-->"}),
                      c.local_date, c.as_of, c.total_open, c.new_since_last, c.oldest_submitted_at, c.requests)
    rendered, _ = render(c)
    assert "<!--" not in rendered.html and rendered.html.count("&lt;!--digest-rows--&gt;") == 2   # greeting, row
    assert len(re.findall(r'<div class="request"', rendered.html)) == 2
