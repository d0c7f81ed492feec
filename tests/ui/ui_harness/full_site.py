"""The four services as real processes (their production entrypoints), for the pages of the staff app
that call the other services' APIs with the signed-in person's token: District Settings (settings),
My contact details (sis_sync's directory) and Email notifications (digest).

Started once for the run, and only when a state asks for it (`State(site="full_site")`): about as
the end-to-end tests' `system` (tests/integration/conftest.py) does it. A small generated roster is
imported into two districts, so that no state depends on another having run first:
- `uia` lets people edit their own contact details (`contact_details_auto_update` off): its admin,
  its Users Manager and a student;
- `uib` keeps the default (the SIS owns contact details): a student whose page is read-only.
"""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pur_contracts import Topology
from pur_kit.auth import SESSION_COOKIE, mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.devstack import ServiceSpec, Stack
from pur_kit.testing import free_port, wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster

from .site import _delete_topology

EDITABLE, SIS_OWNED = "uia", "uib"


def _bearer(sub: str, **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEV_JWT_SECRET, sub=sub, ttl_seconds=3600, **claims)}"}


SYSTEM = _bearer("system", system=True)


@dataclass
class FullSite:
    """The staff app's URL, the other services' URLs and the people of the states (directory entries)."""

    base_url: str
    urls: dict[str, str]
    client: httpx.AsyncClient
    people: dict[str, dict] = field(default_factory=dict)

    def cookie_for(self, who: str) -> dict:
        person = self.people[who]
        token = mint_token(DEV_JWT_SECRET, sub=person["id"], district_id=person["district_id"], ttl_seconds=3600)
        return {"name": SESSION_COOKIE, "value": token, "url": self.base_url}

    def headers(self, who: str) -> dict[str, str]:
        person = self.people[who]
        return _bearer(person["id"], district_id=person["district_id"])

    async def set_subscribed(self, who: str, subscribed: bool) -> None:
        """The person's digest subscription, set through the digest API (a state's starting point)."""
        r = await self.client.put(f"{self.urls['digest']}/api/v1/digest/subscription",
                                  json={"subscribed": subscribed}, headers=self.headers(who))
        assert r.status_code == 200, r.text

    async def page_shows(self, who: str, path: str, needle: str) -> None:
        """Wait until the page, as `who`, answers 200 and shows `needle` (projections fill in
        asynchronously: each service learns the people and the settings from events)."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30,
                                     cookies={SESSION_COOKIE: self.cookie_for(who)["value"]}) as browser:
            async def shows() -> bool:
                r = await browser.get(path)
                return r.status_code == 200 and needle in r.text

            await wait_until(shows, timeout=60, message=f"{path} as {who} showing {needle!r}")


async def _import(site: FullSite, district: str, roster: Path) -> list[dict]:
    """Import `roster` into `district` through sis_sync's API; the district's active users."""
    sis = site.urls["sis_sync"]
    r = await site.client.post(f"{sis}/api/v1/districts/{district}/sis-imports", headers=SYSTEM,
                               files={"file": (roster.name, roster.read_bytes(), "application/zip")})
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]

    async def finished() -> bool:
        status = (await site.client.get(f"{sis}/api/v1/sis-imports/{run_id}", headers=SYSTEM)).json()["status"]
        assert status != "failed", f"the roster import into {district} failed"
        return status == "succeeded"

    await wait_until(finished, timeout=60, message=f"the roster import into {district}")
    r = await site.client.get(f"{sis}/api/v1/directory/users", params={"district_id": district, "limit": 200},
                              headers=SYSTEM)
    assert r.status_code == 200, r.text
    return [u for u in r.json()["items"] if u["active"]]


async def _grant(site: FullSite, who: str, permissions: dict) -> None:
    r = await site.client.put(f"{site.urls['sis_sync']}/api/v1/directory/users/{site.people[who]['id']}/permissions",
                              json=permissions, headers=SYSTEM)
    assert r.status_code == 200, r.text


async def seed(site: FullSite, roster: Path) -> None:
    p = site.people
    users = await _import(site, EDITABLE, roster)
    # by SIS id: the same people in every run, so screenshots compare
    users = sorted(users, key=lambda u: u["sis_id"])
    staff = [u for u in users if u["role"] not in ("student", "parent", "guardian")]
    p["admin"], p["users_manager"] = staff[0], staff[1]
    p["student"] = next(u for u in users if u["role"] == "student")
    p["sis_student"] = min((u for u in await _import(site, SIS_OWNED, roster) if u["role"] == "student"),
                           key=lambda u: u["sis_id"])
    await _grant(site, "admin", {"district_admin": True, "users_manager": {"scope": "district"}})
    await _grant(site, "users_manager", {"district_admin": False, "users_manager": {"scope": "district"}})

    async def editable() -> bool:  # accepted once the settings service knows the admin
        r = await site.client.patch(f"{site.urls['settings']}/api/v1/districts/{EDITABLE}/settings",
                                    json={"profile_update_requests_enabled": True,
                                          "sis_sync": {"contact_details_auto_update": False}},
                                    headers=site.headers("admin"))
        return r.status_code == 200

    await wait_until(editable, timeout=60, message="contact details editable in the first district")

    # every state's starting point, seen by every service involved
    await site.page_shows("admin", "/district-settings", "Save settings")
    await site.page_shows("users_manager", "/district-settings", "Only a district administrator can change")
    await site.page_shows("student", "/my-contact", "Save contact details")
    await site.page_shows("sis_student", "/my-contact", "cannot be edited here")
    await site.page_shows("users_manager", "/notifications", "daily digest")

    async def sis_sync_lets_them_edit() -> bool:  # sis_sync, too, knows the SIS no longer owns them:
        # the email it has: no change, refused (409) while the SIS owns contact details
        r = await site.client.patch(f"{site.urls['sis_sync']}/api/v1/directory/users/me/contact",
                                    json={"email": p["student"]["email"]}, headers=site.headers("student"))
        return r.status_code == 200

    await wait_until(sis_sync_lets_them_edit, timeout=60, message="sis_sync letting the student edit")


@asynccontextmanager
async def running_full_site(database_factory, rabbitmq_url: str, work: Path):
    """The four services on free ports under the run's own event namespace, seeded; `work` holds
    their logs and the roster."""
    topology = Topology(f"t{uuid.uuid4().hex[:12]}")
    ports = {name: free_port() for name in ("settings", "sis_sync", "requests", "digest")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    specs = [
        ServiceSpec("sis_sync", ports["sis_sync"], await database_factory("sis"),
                    {"SIS_SYNC_DROP_FOLDER": str(work / "drop")}),
        ServiceSpec("settings", ports["settings"], await database_factory("settings")),
        ServiceSpec("requests", ports["requests"], await database_factory("requests"),
                    {"REQUESTS_SETTINGS_API_URL": urls["settings"], "REQUESTS_DIRECTORY_API_URL": urls["sis_sync"],
                     "REQUESTS_DIGEST_API_URL": urls["digest"], "REQUESTS_DEV_LOGIN": "true"}),
        # no digest is sent: the states only read and change a subscription
        ServiceSpec("digest", ports["digest"], await database_factory("digest"),
                    {"DIGEST_PUBLIC_BASE_URL": urls["requests"], "DIGEST_PUBLIC_API_URL": urls["digest"],
                     "DIGEST_SCHEDULER_ENABLED": "false"}),
    ]
    stack = Stack(specs, rabbitmq_url=rabbitmq_url, namespace=topology.namespace, jwt_secret=DEV_JWT_SECRET,
                  echo=False, log_dir=work)
    roster = generate_roster(work / "roster.zip", schools=1, students=2, parents=0, staff=2, seed=8)
    stack.start()
    try:
        await stack.wait_ready(timeout=90)
        async with httpx.AsyncClient(timeout=30) as client:
            site = FullSite(base_url=urls["requests"], urls=urls, client=client)
            try:
                await seed(site, roster)
            except Exception as exc:
                raise AssertionError(f"seeding the four services failed; their logs are in {work}") from exc
            yield site
    finally:
        stack.stop()
        await _delete_topology(rabbitmq_url, topology)
