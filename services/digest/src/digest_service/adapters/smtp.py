"""Sending through the configured SMTP server with a small pool of persistent connections.

Each send runs the SMTP transaction step by step, so a failure says how far the message got:
- before DATA (connect, TLS, login, MAIL, RCPT) nothing was handed over: a 4xx reply, a refused
  connection or a timeout is transient, a 5xx reply to MAIL/RCPT is permanent;
- a reply to DATA is the server's verdict (4xx transient, 5xx permanent);
- a lost connection or a timeout *after* the message was written may mean the server accepted it:
  the outcome is ambiguous and the delivery is never retried (at most once).
Connect-phase failures (including a refused login) are transient: they are about this service's
configuration or the server's health, not about the recipient.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aiosmtplib

from ..config import Settings
from ..domain.delivery import SendOutcome, SendResult, classify_smtp_code


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    sender: str       # envelope MAIL FROM (the bare address)
    recipient: str    # envelope RCPT TO (the bare address)
    data: bytes       # the serialized message, CRLF line endings


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "none"   # none | starttls | tls
    ca_file: str | None = None
    timeout: float = 30.0
    idle_seconds: float = 30.0
    local_hostname: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpOptions:
        return cls(
            host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls=settings.smtp_tls, ca_file=settings.smtp_ca_file, timeout=settings.smtp_timeout_seconds,
            idle_seconds=settings.smtp_idle_seconds,
        )


class _Slot:
    __slots__ = ("smtp", "last_used")

    def __init__(self) -> None:
        self.smtp: aiosmtplib.SMTP | None = None
        self.last_used = 0.0


class Mailer:
    """`send` borrows one of `connections` persistent SMTP connections (opened lazily)."""

    def __init__(self, options: SmtpOptions, connections: int) -> None:
        self.options = options
        self._slots: asyncio.Queue[_Slot] | None = None
        self._all: list[_Slot] = []
        self._size = connections

    def _pool(self) -> asyncio.Queue[_Slot]:
        if self._slots is None:  # created on the running loop
            self._slots = asyncio.Queue()
            self._all = [_Slot() for _ in range(self._size)]
            for slot in self._all:
                self._slots.put_nowait(slot)
        return self._slots

    async def send(self, mail: OutgoingMail) -> SendOutcome:
        pool = self._pool()
        slot = await pool.get()
        try:
            return await self._send_on(slot, mail)
        finally:
            pool.put_nowait(slot)

    async def _send_on(self, slot: _Slot, mail: OutgoingMail) -> SendOutcome:
        for first_try in (True, False):
            reused = slot.smtp is not None
            phase = "connect"
            try:
                smtp = await self._connected(slot)
                phase = "envelope"
                await smtp.mail(mail.sender)
                await smtp.rcpt(mail.recipient)
                phase = "data"
                await smtp.data(mail.data)
            except aiosmtplib.SMTPResponseException as exc:
                self._discard(slot)
                result = SendResult.TRANSIENT if phase == "connect" else classify_smtp_code(exc.code)
                return SendOutcome(result, f"{phase}: {exc.code} {type(exc).__name__}")
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._discard(slot)
                if phase == "envelope" and reused and first_try:
                    continue  # the server dropped an idle connection: once more on a fresh one
                result = SendResult.AMBIGUOUS if phase == "data" else SendResult.TRANSIENT
                return SendOutcome(result, f"{phase}: {type(exc).__name__}")
            slot.last_used = time.monotonic()
            return SendOutcome.sent()
        raise AssertionError("unreachable")

    async def _connected(self, slot: _Slot) -> aiosmtplib.SMTP:
        if slot.smtp is not None and (
            not slot.smtp.is_connected or time.monotonic() - slot.last_used > self.options.idle_seconds
        ):
            await self._quit(slot)
        if slot.smtp is None:
            o = self.options
            smtp = aiosmtplib.SMTP(
                hostname=o.host, port=o.port, username=o.username, password=o.password,
                use_tls=o.tls == "tls", start_tls=o.tls == "starttls", timeout=o.timeout,
                local_hostname=o.local_hostname, cert_bundle=o.ca_file,
            )
            await smtp.connect()
            slot.smtp = smtp
            slot.last_used = time.monotonic()
        return slot.smtp

    def _discard(self, slot: _Slot) -> None:
        if slot.smtp is not None:
            with contextlib.suppress(Exception):
                slot.smtp.close()
            slot.smtp = None

    async def _quit(self, slot: _Slot) -> None:
        if slot.smtp is not None and slot.smtp.is_connected:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await slot.smtp.quit()
        self._discard(slot)

    async def close(self) -> None:
        for slot in self._all:
            await self._quit(slot)
