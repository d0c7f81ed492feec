"""Black-box smoke check of a running `docker compose` stack, through its published ports only.

    .venv/bin/python deploy/compose/smoke.py

It imports a small OneRoster roster into a district of its own (so it can run again on the same
stack), grants a district-level Users Manager, enables Profile Update Requests, submits a request
as a user, finds it in the manager's New list, marks it as done and restores it, runs the digest
and finds the manager's email in the mail catcher (Mailpit's API, or the inbox page of the
project's own sink). Exit 0 when every step passed; otherwise 1 and the step that failed.

The ports are read from the same variables as docker-compose.yml (REQUESTS_PORT, SETTINGS_PORT,
DIGEST_PORT, SIS_SYNC_PORT, MAIL_WEB_PORT; its defaults), the signing secret from JWT_SECRET
(compose's default when unset). SMOKE_HOST (127.0.0.1) and SMOKE_STEP_TIMEOUT (60 s) as needed.
"""
from __future__ import annotations

import html
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
from pur_kit.auth import SESSION_COOKIE, mint_token
from sis_sync_service.adapters.oneroster.generator import generate_roster

COMPOSE_JWT_SECRET = "compose-demo-secret-change-me-0123456789abcdef"  # docker-compose.yml's default
HOST = os.environ.get("SMOKE_HOST", "127.0.0.1")
PORTS = {"requests": ("REQUESTS_PORT", 8000), "settings": ("SETTINGS_PORT", 8001), "digest": ("DIGEST_PORT", 8002),
         "sis_sync": ("SIS_SYNC_PORT", 8003), "mail": ("MAIL_WEB_PORT", 8025)}
URLS = {name: f"http://{HOST}:{os.environ.get(var) or default}" for name, (var, default) in PORTS.items()}
SECRET = os.environ.get("JWT_SECRET") or COMPOSE_JWT_SECRET
STEP_TIMEOUT = float(os.environ.get("SMOKE_STEP_TIMEOUT", "60"))
DISTRICT = f"smoke-{uuid.uuid4().hex[:8]}"
SYSTEM = {"Authorization": f"Bearer {mint_token(SECRET, sub='system', system=True, ttl_seconds=3600)}"}
STARTED = time.monotonic()


class SmokeFailure(Exception):
    pass


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def person(user: dict) -> dict[str, str]:
    token = mint_token(SECRET, sub=user["id"], district_id=DISTRICT, ttl_seconds=3600)
    return {"Authorization": f"Bearer {token}"}


def wait_for(what: str, check: Callable[[], Any], timeout: float = STEP_TIMEOUT,
             describe: Callable[[], str] | None = None) -> Any:
    """Call `check` until it returns something truthy; on timeout, say what was seen last."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = check()
        except httpx.TransportError as exc:  # the stack is still settling: keep trying
            result, last = None, f"{type(exc).__name__}: {exc}"
        if result:
            return result
        if time.monotonic() > deadline:
            seen = describe() if describe else last
            raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {seen}")
        time.sleep(0.5)


def expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise SmokeFailure(f"{response.request.method} {response.request.url} answered {response.status_code} "
                           f"(expected {', '.join(map(str, statuses))}): {response.text[:500]}")
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


class Mailbox:
    """What the mail catcher received: Mailpit's JSON API when it answers, else the project's sink
    (pur_kit.mailsink), whose inbox page lists To and Subject with a link to each message."""

    ROW = re.compile(r"<tr><td>(?P<date>.*?)</td><td>(?P<to>.*?)</td><td><a href='/m/(?P<name>[^']+)'>"
                     r"(?P<subject>.*?)</a></td></tr>")

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url = client, url
        r = client.get(f"{url}/api/v1/messages", params={"limit": 1})
        self.mailpit = r.status_code == 200 and r.headers.get("content-type", "").startswith("application/json")
        self.kind = "Mailpit API" if self.mailpit else "mail sink inbox page"

    def messages(self) -> list[dict]:
        """[{id, to (lower-cased addresses), subject}], newest first."""
        if self.mailpit:
            body = expect(self.client.get(f"{self.url}/api/v1/messages", params={"limit": 200}), 200)
            return [{"id": m["ID"], "to": [a["Address"].lower() for a in m["To"] or []], "subject": m["Subject"]}
                    for m in body["messages"]]
        page = expect(self.client.get(f"{self.url}/"), 200)
        return [{"id": m["name"], "to": [a.lower() for _, a in getaddresses([html.unescape(m["to"])])],
                 "subject": html.unescape(m["subject"])} for m in self.ROW.finditer(page)]

    def body(self, message_id: str) -> str:
        if self.mailpit:
            message = expect(self.client.get(f"{self.url}/api/v1/message/{message_id}"), 200)
            return f"{message.get('Text', '')}\n{message.get('HTML', '')}"
        return html.unescape(expect(self.client.get(f"{self.url}/m/{message_id}"), 200))


def main() -> int:
    say(f"district {DISTRICT}; services {URLS}")
    with httpx.Client(timeout=30) as client:
        for name in ("requests", "settings", "digest", "sis_sync"):
            wait_for(f"{name} /readyz", lambda name=name: client.get(f"{URLS[name]}/readyz").status_code == 200)
        say("the four services are ready")
        mailbox = Mailbox(client, URLS["mail"])
        say(f"mail catcher at {URLS['mail']}: {mailbox.kind}")

        # 1. a roster, through the import API
        with tempfile.TemporaryDirectory() as tmp:
            roster = generate_roster(Path(tmp) / "roster.zip", schools=2, students=12, parents=6, staff=6, seed=13)
            r = client.post(f"{URLS['sis_sync']}/api/v1/districts/{DISTRICT}/sis-imports", headers=SYSTEM,
                            files={"file": ("roster.zip", roster.read_bytes(), "application/zip")})
        run_id = expect(r, 202)["id"]

        def import_finished() -> dict | None:
            run = expect(client.get(f"{URLS['sis_sync']}/api/v1/sis-imports/{run_id}", headers=SYSTEM), 200)
            return run if run["status"] in ("succeeded", "failed") else None

        run = wait_for(f"import run {run_id}", import_finished)
        if run["status"] != "succeeded":
            raise SmokeFailure(f"the roster import failed: {run}")
        say(f"roster imported: {run['counts']}")

        users = expect(client.get(f"{URLS['sis_sync']}/api/v1/directory/users", headers=SYSTEM,
                                  params={"district_id": DISTRICT, "limit": 200}), 200)["items"]
        staff = sorted((u for u in users if u["sis_id"].startswith("stf-")), key=lambda u: u["sis_id"])
        students = sorted((u for u in users if u["role"] == "student"), key=lambda u: u["sis_id"])
        if not staff or not students:
            raise SmokeFailure(f"the directory lacks staff or students: {len(users)} users")
        manager, requester = staff[0], students[0]

        # 2. a district-level Users Manager (permissions API)
        expect(client.put(f"{URLS['sis_sync']}/api/v1/directory/users/{manager['id']}/permissions", headers=SYSTEM,
                          json={"district_admin": False, "users_manager": {"scope": "district"}}), 200)
        say(f"granted district-level Users Manager to {manager['sis_id']} <{manager['email']}>")

        # 3. the feature on: 404 until the settings service has consumed the directory
        settings_url = f"{URLS['settings']}/api/v1/districts/{DISTRICT}/settings"

        def enabled() -> bool:
            r = client.patch(settings_url, json={"profile_update_requests_enabled": True}, headers=SYSTEM)
            if r.status_code == 404:
                return False
            return expect(r, 200)["profile_update_requests_enabled"] is True

        wait_for("the settings service to know the district (PATCH settings)", enabled)
        say("Profile Update Requests enabled")

        # 4. a request, as the user: refused (403/404) until the requests service has the
        #    setting and the user
        created: dict = {}

        def submitted() -> bool:
            r = client.post(f"{URLS['requests']}/api/v1/requests", headers=person(requester),
                            json={"changes": {"phone": "+15555550142"}, "note": "compose smoke check"})
            if r.status_code in (403, 404):
                created["last"] = r.text[:200]
                return False
            created.update(expect(r, 201))
            return True

        wait_for("the submission to be accepted", submitted, describe=lambda: created.get("last"))
        request_id = created["id"]
        say(f"request {request_id} submitted by {requester['sis_id']}")

        # 5. the staff list, Mark as Done, Restore
        base = f"{URLS['requests']}/api/v1/requests"

        def listed(status: str) -> set[str]:
            r = client.get(base, params={"status": status, "limit": 200}, headers=person(manager))
            if r.status_code == 403:  # the grant has not reached the requests service yet
                return set()
            return {item["id"] for item in expect(r, 200)["items"]}

        wait_for("the request in the manager's New list", lambda: request_id in listed("new"))
        say("listed under New for the Users Manager")
        done = expect(client.post(f"{base}/{request_id}/mark-done", headers=person(manager)), 200)
        if done["status"] != "done" or request_id not in listed("done"):
            raise SmokeFailure(f"Mark as Done: {done}")
        say("Mark as Done: listed under Marked as Done")
        restored = expect(client.post(f"{base}/{request_id}/restore", headers=person(manager)), 200)
        if restored["status"] != "new" or request_id not in listed("new"):
            raise SmokeFailure(f"Restore Request: {restored}")
        say("Restore Request: back under New")

        # 6. the digest: once its projection has the request, run it and find the email
        manager_email = manager["email"].lower()

        def planned() -> bool:
            r = client.post(f"{URLS['digest']}/api/v1/digests/run", headers=SYSTEM,
                            json={"district_id": DISTRICT, "dry_run": True})
            return any(e["to"].lower() == manager_email and request_id in e["request_ids"]
                       for e in expect(r, 200)["emails"])

        wait_for("the digest to plan the manager's email", planned)
        before = {m["id"] for m in mailbox.messages()}
        result = expect(client.post(f"{URLS['digest']}/api/v1/digests/run", headers=SYSTEM,
                                    json={"district_id": DISTRICT}), 200)
        if result["sent"] < 1:
            raise SmokeFailure(f"the digest run sent nothing: {result}")
        say(f"digest run: sent {result['sent']}")

        def delivered() -> dict | None:
            return next((m for m in mailbox.messages() if m["id"] not in before and manager_email in m["to"]), None)

        mail = wait_for(f"the digest email to {manager_email} in the mail catcher", delivered,
                        describe=lambda: [(m["to"], m["subject"]) for m in mailbox.messages()[:5]])
        text = mailbox.body(mail["id"])
        if requester["given_name"] not in text:
            raise SmokeFailure(f"the digest email does not name the requester {requester['given_name']}: {text[:500]}")
        say(f"mail catcher has '{mail['subject']}' for {manager_email}, naming the requester")

        # 8. the staff app's District Settings page: the requests container calls the settings API
        session = person(manager)["Authorization"].split(" ", 1)[1]
        page = client.get(f"{URLS['requests']}/district-settings", cookies={SESSION_COOKIE: session})
        if page.status_code != 200 or "<h1>District Settings</h1>" not in page.text or DISTRICT not in page.text:
            raise SmokeFailure(f"the staff app's District Settings page answered {page.status_code}: {page.text[:300]}")
        say("the staff app shows District Settings (read-only for the Users Manager) from the settings API")
    say("smoke check passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SmokeFailure as exc:
        say(f"SMOKE CHECK FAILED: {exc}")
        sys.exit(1)
