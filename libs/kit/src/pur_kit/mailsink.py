"""A local SMTP sink for development: keeps every message as an .eml file and lists them on a
small web page (and `python -m pur_kit.mailsink --list`)."""
from __future__ import annotations

import argparse
import email
import email.policy
import html
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        (self.directory / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def list_messages(directory: Path) -> list[tuple[str, email.message.EmailMessage]]:
    out = []
    for path in sorted(directory.glob("*.eml"), reverse=True):
        out.append((path.name, email.message_from_bytes(path.read_bytes(), policy=email.policy.default)))
    return out


def _inbox_handler(directory: Path):
    class Inbox(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):  # noqa: N802
            if self.path in ("/livez", "/readyz"):  # health URLs for container checks (Mailpit's names)
                self._send("ok")
                return
            if self.path.startswith("/m/"):
                path = directory / Path(self.path[3:]).name
                if not path.exists():
                    self.send_error(404)
                    return
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                part = msg.get_body(("html", "plain"))
                body = part.get_content() if part else ""
                if part is not None and part.get_content_type() == "text/plain":
                    body = f"<pre>{html.escape(body)}</pre>"
                self._send(body)
                return
            rows = "".join(
                f"<tr><td>{html.escape(str(m['Date']))}</td><td>{html.escape(str(m['To']))}</td>"
                f"<td><a href='/m/{name}'>{html.escape(str(m['Subject']))}</a></td></tr>"
                for name, m in list_messages(directory)
            ) or "<tr><td colspan=3>No mail yet.</td></tr>"
            self._send(f"<!doctype html><title>Local inbox</title><h1>Local inbox</h1>"
                       f"<table border=1 cellpadding=4><tr><th>Date</th><th>To</th><th>Subject</th></tr>{rows}</table>")

        def _send(self, body: str):
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Inbox


class MailSink:
    def __init__(self, directory: Path, smtp_port: int = 1025, web_port: int = 8025, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.controller = Controller(MaildirHandler(directory), hostname=host, port=smtp_port)
        self.web = ThreadingHTTPServer((host, web_port), _inbox_handler(directory))

    def start(self) -> None:
        self.controller.start()
        threading.Thread(target=self.web.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.controller.stop()
        self.web.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=".run/mail")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--web-port", type=int, default=8025)
    parser.add_argument("--list", action="store_true", help="print the kept messages and exit")
    args = parser.parse_args()
    directory = Path(args.dir)
    if args.list:
        for name, msg in list_messages(directory):
            print(f"{name}  {msg['Date']}  to={msg['To']}  {msg['Subject']}")
        return 0
    sink = MailSink(directory, args.smtp_port, args.web_port, args.host)
    sink.start()
    print(f"SMTP on {args.host}:{args.smtp_port}, inbox on http://{args.host}:{args.web_port}/, files in {directory}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
