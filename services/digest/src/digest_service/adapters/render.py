"""The digest email: plain-text and HTML parts from Jinja2 templates (autoescaped HTML), in a
multipart/alternative message with Date, Message-ID and a stable From.

The Message-ID derives from the delivery id, so every attempt of one delivery carries the same id
(receiving systems may use it to drop a duplicate). The MIME structure is written directly (UTF-8
parts, 7bit or quoted-printable): the `email` package's generator cost more than the rest of a
delivery together. Request rows do not depend on the recipient, so a run renders each row once.

Headers are never formatted by hand: each one is parsed and folded by `email.policy.SMTP` (which
refuses a string holding CR or LF) from `Address` objects (which refuse CR/LF in any part). Names
come from the directory, whose events refuse control and bidi characters; a name stored before that
rule is shown without them, and a name that still cannot make a header leaves the bare address.

Every email carries RFC 8058 one-click unsubscribe headers (`List-Unsubscribe` with this service's
own URL and a token bound to the recipient and to that one purpose, `List-Unsubscribe-Post`).

The HTML part has no <style> block: mail clients drop or rewrite them, so the stylesheet
(templates/digest.css) is inlined into style attributes by css-inline. The page around the rows is
inlined per email; each request row once per run, as a fragment (rows are shared by the run's
emails; inlining the whole 25-row document per email measured 2-4 times the page alone).
"""
from __future__ import annotations

import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from importlib.resources import files
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pur_contracts.base import FULL_NAME_MAX, without_unsafe_characters
from pur_kit.auth import PurposeTokens

from ..domain.digest import DigestContent, Recipient, RequestLine, describe_age, describe_changes, plural

# A dot-atom address (RFC 5322) in ASCII: what every SMTP server takes without SMTPUTF8.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")


class InvalidAddress(ValueError):
    """The recipient's email address cannot be used in a message header."""


# The one-click unsubscribe header's value is a URL with a ~200-character token and no space to fold
# at: the SMTP policy's 78-column folding would turn it into RFC 2047 encoded words, which mail
# clients do not decode into a URL. RFC 5322 allows lines of 998 characters.
_LONG_LINES = SMTP.clone(max_line_length=998)
ONE_CLICK = "List-Unsubscribe=One-Click"   # RFC 8058: the List-Unsubscribe-Post value, and the POST body


@dataclass(frozen=True, slots=True)
class Links:
    public_base_url: str        # the staff app (requests service): Manage Requests, the notifications page
    settings_public_url: str    # the settings service: District Settings
    public_api_url: str         # this service: the one-click unsubscribe URL
    unsubscribe_tokens: PurposeTokens

    def manage_requests(self) -> str:
        return f"{self.public_base_url.rstrip('/')}/manage-requests?tab=new"

    def notifications(self) -> str:
        """The staff app's page where a manager turns their digest on or off."""
        return f"{self.public_base_url.rstrip('/')}/notifications"

    def unsubscribe(self, recipient: Recipient) -> str:
        """The RFC 8058 one-click URL: a token for this recipient that only unsubscribes them."""
        token = self.unsubscribe_tokens.mint(str(recipient.id), recipient.district_id)
        return f"{self.public_api_url.rstrip('/')}/api/v1/digest/unsubscribe?{urlencode({'token': token})}"

    def request(self, request_id: UUID) -> str:
        return f"{self.public_base_url.rstrip('/')}/manage-requests/{request_id}"

    def district_settings(self, district_id: str) -> str:
        return f"{self.settings_public_url.rstrip('/')}/districts/{district_id}/settings"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    to: str
    subject: str
    text: str
    html: str
    data: bytes            # the whole message as sent
    request_ids: list[UUID]


class DigestRenderer:
    def __init__(self, mail_from: str, links: Links) -> None:
        self.mail_from = mail_from
        name, self.envelope_from = parseaddr(mail_from)
        self.envelope_from = self.envelope_from or mail_from
        # Constant headers are folded once; a From the policy cannot parse fails here, at start-up.
        self._from_header = _fold([("From", _mailbox(name, self.envelope_from))])
        self._auto_headers = _fold([("List-Unsubscribe-Post", ONE_CLICK), ("Auto-Submitted", "auto-generated"),
                                    ("X-Auto-Response-Suppress", "All")])
        self.message_id_domain = self.envelope_from.rpartition("@")[2] or "localhost"
        self.links = links
        env = Environment(
            loader=PackageLoader("digest_service", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        )
        self._text = env.get_template("digest.txt")
        self._html = env.get_template("digest.html")
        self._text_row = env.get_template("row.txt")
        self._html_row = env.get_template("row.html")
        self._css = files("digest_service").joinpath("templates/digest.css").read_text(encoding="utf-8")
        self._inliner = css_inline.CSSInliner(inline_style_tags=False, keep_style_tags=False, keep_link_tags=False,
                                              load_remote_stylesheets=False, extra_css=self._css)

    def message_id(self, delivery_id: UUID) -> str:
        return f"<digest.{delivery_id}@{self.message_id_domain}>"

    def render(self, content: DigestContent, *, school_names: dict[str, str], zone: ZoneInfo,
               delivery_id: UUID, now: datetime, row_cache: dict | None = None) -> RenderedEmail:
        recipient = content.recipient
        address = (recipient.email or "").strip()
        if len(address) > 254 or not ADDRESS.fullmatch(address):
            raise InvalidAddress("not a plain ASCII address")
        rows = [self._row(line, school_names, zone, row_cache) for line in content.requests]
        context = self._context(content, school_names)
        text = self._text.render(context, rows="".join(r[0] for r in rows))
        html = self._inline_page(context, "".join(r[1] for r in rows))
        head = (self._from_header + _to_header(recipient.display_name, address)
                + _fold([("Subject", content.subject), ("Date", format_datetime(now)),
                         ("Message-ID", self.message_id(delivery_id))])
                + _fold([("List-Unsubscribe", f"<{self.links.unsubscribe(recipient)}>")], _LONG_LINES)
                + self._auto_headers)
        return RenderedEmail(to=address, subject=content.subject, text=text, html=html,
                             data=_multipart_alternative(head, text, html),
                             request_ids=[line.id for line in content.requests])

    def _row(self, line: RequestLine, school_names: dict[str, str], zone: ZoneInfo,
             cache: dict | None) -> tuple[str, str]:
        if cache is not None and (hit := cache.get(line.id)) is not None:
            return hit
        values = {
            "id": str(line.id),
            "requester": shown_name(line.requester_name),
            "schools": ", ".join(shown_name(school_names.get(s, s)) for s in line.school_ids) or "no school",
            "submitted": _local(line.submitted_at, zone),
            "changes": describe_changes(line.fields, line.has_note),
            "appears_applied": line.appears_applied,
            "url": self.links.request(line.id),
        }
        # An empty stylesheet argument: the inliner's own (digest.css, `extra_css`) applies to fragments too.
        row = (self._text_row.render(values), self._inliner.inline_fragment(self._html_row.render(values), ""))
        if cache is not None:
            cache[line.id] = row
        return row

    def _context(self, content: DigestContent, school_names: dict[str, str]) -> dict:
        recipient = content.recipient
        return {
            "subject": content.subject,
            "headline": _headline(content),
            "given_name": shown_name(recipient.given_name or recipient.display_name),
            "district_id": recipient.district_id,
            "scope": ("every school of the district" if recipient.scope == "district"
                      else ", ".join(shown_name(school_names.get(s, s)) for s in recipient.school_ids)),
            "new_since_last": content.new_since_last,
            "first_digest": recipient.last_digest_at is None,
            "total_open": content.total_open,
            "oldest_age": describe_age(content.oldest_age),
            "more": content.more_count,
            "manage_url": self.links.manage_requests(),
            "notifications_url": self.links.notifications(),
            "settings_url": self.links.district_settings(recipient.district_id),
        }

    def _inline_page(self, context: dict, rows: str) -> str:
        """The HTML part: the page inlined, then the (already inlined) rows put in their place."""
        page = self._inliner.inline(self._html.render(context, rows=Markup(_ROWS_MARK)))
        before, mark, after = page.partition(_ROWS_MARK)
        if not mark:   # the inliner rewrote the mark: never send a digest without its rows
            raise RuntimeError("rows placeholder lost while inlining the stylesheet")
        return before + rows + after


# Stands for the rows while the page is inlined: a comment the HTML serializer keeps as it is.
_ROWS_MARK = "<!--digest-rows-->"


def _headline(content: DigestContent) -> str:
    waiting = plural(content.total_open, "open profile update request")
    if content.recipient.last_digest_at is None:
        return f"You have {waiting} to review."
    return f"You have {waiting} to review, {content.new_since_last} new since your last digest."


def _local(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%Y %H:%M} {local.tzname()}"


def shown_name(name: str) -> str:
    """A directory name as a header or body shows it: no control or bidi characters, one line, bounded."""
    return " ".join(without_unsafe_characters(name).split())[:FULL_NAME_MAX]


def _mailbox(display_name: str, address: str) -> Address:
    name = shown_name(display_name)
    return Address(display_name=name, addr_spec=address) if name else Address(addr_spec=address)


def _fold(headers: list[tuple[str, str | Address]], policy=SMTP) -> str:
    """Header lines as `email.policy.SMTP` writes them (RFC 2047 words for non-ASCII, CRLF)."""
    return "".join(policy.fold(*policy.header_store_parse(name, value)) for name, value in headers)


def _to_header(display_name: str, address: str) -> str:
    try:
        return _fold([("To", _mailbox(display_name, address))])
    except (ValueError, TypeError, IndexError, MessageError):  # a name it rejects: the bare address
        return _fold([("To", Address(addr_spec=address))])


def _encoded(body: str) -> tuple[str, bytes]:
    """7bit when the part is plain ASCII with short lines (the usual case: nothing to encode, less
    to send and parse), quoted-printable otherwise; both travel through any SMTP server."""
    crlf = body.replace("\r\n", "\n").replace("\n", "\r\n")
    if crlf.isascii() and max(map(len, crlf.split("\r\n"))) <= 998:
        return "7bit", crlf.encode("ascii")
    return "quoted-printable", binascii.b2a_qp(crlf.encode("utf-8"), istext=True)


def _multipart_alternative(head: str, text: str, html: str) -> bytes:
    # "=_" never occurs in quoted-printable output, and a random boundary not in 7bit text.
    boundary = f"=_digest_{uuid.uuid4().hex}"
    out = [(head + f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            ).encode("ascii")]
    for subtype, body in (("plain", text), ("html", html)):
        encoding, data = _encoded(body)
        out += [f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode("ascii"), data, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)
