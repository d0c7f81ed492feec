"""One running requests service for the whole UI run: a fresh database, the test run's own event
namespace, real uvicorn on a free port, and one district seeded with a person and a request for
every page state in `states.py`.

The contract-event publisher (`World`) is the requests service's own test helper, loaded from its
conftest by path so the two suites cannot drift apart.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx
from pur_contracts import Topology
from pur_kit.auth import SESSION_COOKIE, mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from pur_kit.testing import wait_until
from pur_kit.testing.browser import served
from requests_service.entrypoints.ui import PAGE_SIZE

REPO = Path(__file__).resolve().parents[3]
SERVICE_DIR = REPO / "services" / "requests"
API = "/api/v1/requests"


def _requests_test_helpers():
    """services/requests/tests/conftest.py as a module of its own (importlib mode puts no test
    folder on sys.path, and its name `conftest` is taken)."""
    name = "pur_ui_requests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SERVICE_DIR / "tests" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class Site:
    """The running service, its people (by role in the states) and the requests they sent."""

    base_url: str
    client: httpx.AsyncClient
    world: object
    district: str
    people: dict = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)

    def cookie_for(self, who: str) -> dict:
        person = self.people[who]
        token = mint_token(DEV_JWT_SECRET, sub=str(person.id), district_id=person.district_id, ttl_seconds=3600)
        return {"name": SESSION_COOKIE, "value": token, "url": self.base_url}

    def headers(self, who: str) -> dict[str, str]:
        """A bearer token of the person for the service's API."""
        return _requests_test_helpers().headers_for(self.people[who])

    async def submit(self, who: str, body: dict) -> str:
        r = await self.client.post(API, json=body, headers=self.headers(who))
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def act(self, who: str, request_id: str, action: str) -> None:
        r = await self.client.post(f"{API}/{request_id}/{action}", headers=self.headers(who))
        assert r.status_code == 200, r.text


async def seed(site: Site) -> None:
    """A district with four schools (one without requests, one with more than a page of them), and a
    second district with the feature off."""
    w, d = site.world, site.district
    off = f"{d}x"
    await w.settings(d, enabled=True, wait=False)
    await w.settings(off, enabled=False, wait=False)
    for school, name in (("sch-a", "Alder Elementary"), ("sch-b", "Birch High"), ("sch-c", "Cedar Middle")):
        await w.school(d, school, name, wait=False)
    await w.school(off, "sch-a", "Oak Primary", wait=False)
    p = site.people
    p["manager"] = await w.user(d, schools=["sch-a"], role="teacher", given="Mia", family="Alder",
                                manager=["sch-a", "sch-b"], wait=False)
    p["idle_manager"] = await w.user(d, schools=["sch-c"], role="teacher", given="Cyd", family="Cedar",
                                     manager=["sch-c"], wait=False)
    p["rita"] = await w.user(d, schools=["sch-a"], given="Rita", family="Requester", email="rita@example.org",
                             phone="+15555550100", wait=False)
    p["ivy"] = await w.user(d, schools=["sch-a"], given="Ivy", family="Ash", email="ivy@example.org", wait=False)
    p["nora"] = await w.user(d, schools=["sch-b"], given="Nora", family="Notes", wait=False)
    p["otto"] = await w.user(d, schools=["sch-b"], given="Otto", family="Applied", email="otto@example.org",
                             wait=False)
    p["sam"] = await w.user(d, schools=["sch-a"], role="teacher", given="Sam", family="Staff", wait=False)
    p["dee"] = await w.user(off, schools=["sch-a"], given="Dee", family="Disabled", wait=False)
    await w.settle()

    r = site.requests
    r["new"] = await site.submit("rita", {"changes": {"email": "rita.new@example.org", "phone": "+15555550199"},
                                          "note": "I changed provider in May.\nPlease update both."})
    r["done"] = await site.submit("ivy", {"changes": {"given_name": "Ivy-Rose"}})
    await site.act("manager", r["done"], "mark-done")
    r["note_only"] = await site.submit("nora", {"note": "My family name is misspelled on the report card."})
    r["applied"] = await site.submit("otto", {"changes": {"email": "otto.new@example.org"}})
    # the SIS now has Otto's new address: the request "appears applied"
    await w.put_user(p["otto"], email="otto.new@example.org")

    async def applied() -> bool:
        got = await site.client.get(f"{API}/{r['applied']}", headers=site.headers("manager"))
        return got.json()["appears_applied"]

    await wait_until(applied, message="Otto's request appears applied")

    # a school with more requests than a page holds, for the pager and the bulk actions
    await w.school(d, "sch-p", "Pine Academy", wait=False)
    p["busy_manager"] = await w.user(d, schools=["sch-p"], role="teacher", given="Pat", family="Pine",
                                     manager=["sch-p"], wait=False)
    crowd = [await w.user(d, schools=["sch-p"], given=f"Pupil{i:02d}", family="Pine", wait=False)
             for i in range(PAGE_SIZE + 2)]
    await w.settle()
    for i, person in enumerate(crowd):
        p[f"pupil{i}"] = person
        r[f"pupil{i}"] = await site.submit(f"pupil{i}", {"note": f"Request number {i}."})



async def add_keyboard_district(site: Site, tag: str) -> tuple[str, str]:
    """A district of its own for one keyboard walkthrough: (the manager's name, the request id)."""
    w, d = site.world, f"{site.district}k{tag}"
    await w.settings(d, enabled=True, wait=False)
    await w.school(d, "sch-k", "Keys Academy", wait=False)
    manager = await w.user(d, schools=["sch-k"], role="teacher", given="Kim", family=f"Keys{tag}",
                           manager=["sch-k"], wait=False)
    requester = await w.user(d, schools=["sch-k"], given="Kai", family="Keyboard", email="kai@example.org",
                             wait=False)
    await w.settle()
    site.people[f"keys{tag}"], site.people[f"kai{tag}"] = manager, requester
    request_id = await site.submit(f"kai{tag}", {"changes": {"email": "kai.new@example.org"}})
    return f"Kim Keys{tag}", request_id


@asynccontextmanager
async def running_site(database_factory, rabbitmq_url: str):
    from requests_service.config import Settings
    from requests_service.entrypoints.app import create_app

    helpers = _requests_test_helpers()
    topology = Topology(f"t{uuid.uuid4().hex[:12]}")
    url = await database_factory("requests")
    await upgrade(SERVICE_DIR, url)
    settings = Settings(database_url=url, rabbitmq_url=rabbitmq_url, events_namespace=topology.namespace,
                        dev_login=True, db_pool_size=4, outbox_poll_seconds=1.0, consumer_retry_delay_ms=100)
    app = create_app(settings)
    runtime = app.state.runtime
    try:
        async with runtime.lifespan(app):
            await wait_until(lambda: runtime.broker_started, message="broker started")
            world = helpers.World(rabbitmq_url, topology, asyncpg_dsn(url))
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client, \
                        served(app) as base_url:
                    site = Site(base_url=base_url, client=client, world=world,
                                district=f"d{uuid.uuid4().hex[:8]}")
                    await seed(site)
                    yield site
            finally:
                await world.close()
    finally:
        await _delete_topology(rabbitmq_url, topology)


async def _delete_topology(rabbitmq_url: str, topology: Topology) -> None:
    """What the kit's `topology` fixture does after a test, for this run-long namespace."""
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        for name in topology.all_queues():
            with contextlib.suppress(aio_pika.exceptions.AMQPError):  # never declared
                await (await connection.channel()).queue_delete(name)
        with contextlib.suppress(aio_pika.exceptions.AMQPError):
            await (await connection.channel()).exchange_delete(topology.exchange)
    finally:
        await connection.close()
