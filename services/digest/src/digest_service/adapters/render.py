"""The digest email: plain-text and HTML parts from Jinja2 templates, in a multipart/alternative
message with Date, Message-ID and a stable From.

The Message-ID derives from the delivery id, so every attempt of one delivery carries the same id
(receiving systems may use it to drop a duplicate).
"""
from __future__ import annotations

import email.errors
import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..domain.digest import DigestContent, describe_age, field_labels, plural

SMTP_POLICY = email.policy.SMTP


class InvalidAddress(ValueError):
    """The recipient's email address cannot be used in a message header."""


@dataclass(frozen=True, slots=True)
class Links:
    public_base_url: str        # the requests service: Manage Requests
    settings_public_url: str    # the settings service: District Settings

    def manage_requests(self) -> str:
        return f"{self.public_base_url.rstrip('/')}/manage-requests?tab=new"

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
        self.envelope_from = parseaddr(mail_from)[1] or mail_from
        self.message_id_domain = self.envelope_from.rpartition("@")[2] or "localhost"
        self.links = links
        env = Environment(
            loader=PackageLoader("digest_service", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        )
        self._text = env.get_template("digest.txt")
        self._html = env.get_template("digest.html")

    def message_id(self, delivery_id: UUID) -> str:
        return f"<digest.{delivery_id}@{self.message_id_domain}>"

    def render(self, content: DigestContent, *, school_names: dict[str, str], zone: ZoneInfo,
               delivery_id: UUID, now: datetime) -> RenderedEmail:
        recipient = content.recipient
        try:
            to = Address(display_name=recipient.display_name, addr_spec=recipient.email or "")
            if not to.username or not to.domain or not str(to.addr_spec).isascii():
                raise InvalidAddress("incomplete or non-ASCII address")
        except (ValueError, IndexError, TypeError, email.errors.MessageError) as exc:
            raise InvalidAddress(type(exc).__name__) from None
        context = self._context(content, school_names, zone)
        text = self._text.render(context)
        html = self._html.render(context)
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["Subject"] = content.subject
        msg["From"] = self.mail_from
        msg["To"] = to
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = self.message_id(delivery_id)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return RenderedEmail(to=to.addr_spec, subject=content.subject, text=text, html=html, data=msg.as_bytes(),
                             request_ids=[line.id for line in content.requests])

    def _context(self, content: DigestContent, school_names: dict[str, str], zone: ZoneInfo) -> dict:
        recipient = content.recipient
        rows = [
            {
                "id": str(line.id),
                "requester": line.requester_name,
                "schools": ", ".join(school_names.get(s, s) for s in line.school_ids) or "no school",
                "submitted": _local(line.submitted_at, zone),
                "fields": ", ".join(field_labels(line.fields)) or "none (a note only)",
                "has_note": line.has_note,
                "appears_applied": line.appears_applied,
                "url": self.links.request(line.id),
            }
            for line in content.requests
        ]
        return {
            "subject": content.subject,
            "headline": _headline(content),
            "given_name": recipient.given_name or recipient.display_name,
            "district_id": recipient.district_id,
            "scope": ("every school of the district" if recipient.scope == "district"
                      else ", ".join(school_names.get(s, s) for s in recipient.school_ids)),
            "new_since_last": content.new_since_last,
            "first_digest": recipient.last_digest_at is None,
            "total_open": content.total_open,
            "oldest_age": describe_age(content.oldest_age),
            "rows": rows,
            "more": content.more_count,
            "manage_url": self.links.manage_requests(),
            "settings_url": self.links.district_settings(recipient.district_id),
        }


def _headline(content: DigestContent) -> str:
    waiting = plural(content.total_open, "open profile update request")
    if content.recipient.last_digest_at is None:
        return f"You have {waiting} to review."
    return f"You have {waiting} to review, {content.new_since_last} new since your last digest."


def _local(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%Y %H:%M} {local.tzname()}"
