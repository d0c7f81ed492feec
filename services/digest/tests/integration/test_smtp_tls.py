"""The mailer against aiosmtpd with STARTTLS, implicit TLS and AUTH (a throwaway certificate)."""
from __future__ import annotations

import shutil
import ssl
import subprocess
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from digest_service.adapters.smtp import Mailer, OutgoingMail, SmtpOptions
from digest_service.domain.delivery import SendResult
from pur_kit.testing import free_port

MAIL = OutgoingMail("no-reply@localhost", "mia@example.org",
                    b"Subject: hi\r\nFrom: no-reply@localhost\r\nTo: mia@example.org\r\n\r\nhello\r\n")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return str(folder / "cert.pem"), context


class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"digest" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


async def send_through(controller_kwargs: dict, options: dict) -> tuple[Inbox, object]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            **controller_kwargs)
    controller.start()
    mailer = Mailer(SmtpOptions(**{"host": "127.0.0.1", "port": port, "timeout": 5, **options}), connections=1)
    try:
        outcome = await mailer.send(MAIL)
    finally:
        await mailer.close()
        controller.stop()
    return inbox, outcome


async def test_starttls_with_login(certificate):
    ca_file, context = certificate
    inbox, outcome = await send_through(
        {"tls_context": context, "require_starttls": True, "auth_required": True},
        {"tls": "starttls", "ca_file": ca_file, "username": "digest", "password": "s3cret"})
    assert outcome.result is SendResult.SENT and len(inbox.messages) == 1


async def test_implicit_tls(certificate):
    ca_file, context = certificate
    inbox, outcome = await send_through({"ssl_context": context}, {"tls": "tls", "ca_file": ca_file})
    assert outcome.result is SendResult.SENT and len(inbox.messages) == 1


async def test_an_unverifiable_certificate_is_not_trusted(certificate):
    _, context = certificate
    inbox, outcome = await send_through({"tls_context": context, "require_starttls": True}, {"tls": "starttls"})
    assert outcome.result is SendResult.TRANSIENT and outcome.error.startswith("connect:")
    assert inbox.messages == []


async def test_a_refused_login_is_a_transient_configuration_problem(certificate):
    ca_file, context = certificate
    inbox, outcome = await send_through(
        {"tls_context": context, "require_starttls": True, "auth_required": True},
        {"tls": "starttls", "ca_file": ca_file, "username": "digest", "password": "wrong", "timeout": 2})
    assert outcome.result is SendResult.TRANSIENT and outcome.error.startswith("connect:")
    assert inbox.messages == []
