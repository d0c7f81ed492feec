"""The sis_sync app in-process on a fresh database and a per-test event namespace (real broker)."""
from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest
import pytest_asyncio
from pur_contracts import DistrictSettings, DistrictSettingsChanged, Event, SisSyncCompleted, SisSyncSettings
from pur_kit.auth import mint_token
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from pur_kit.testing import wait_until
from sis_sync_service.config import Settings
from sis_sync_service.entrypoints.app import create_app
from sis_sync_service.service_layer import imports

SERVICE_DIR = Path(__file__).resolve().parents[2]


def system_headers(settings: Settings) -> dict:
    return {"Authorization": f"Bearer {mint_token(settings.jwt_secret, sub='system', system=True)}"}


def person_headers(settings: Settings, user: dict) -> dict:
    token = mint_token(settings.jwt_secret, sub=user["id"], district_id=user["district_id"])
    return {"Authorization": f"Bearer {token}"}


class Harness:
    """One running service plus helpers that read like the test sentences."""

    def __init__(self, app, client: httpx.AsyncClient, settings: Settings, rabbitmq_url: str, exchange: str) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        self.runtime = app.state.runtime
        self.parts = self.runtime.parts
        self.rabbitmq_url = rabbitmq_url
        self.exchange = exchange
        self.system = system_headers(settings)

    def person(self, user: dict) -> dict:
        return person_headers(self.settings, user)

    async def start_import(self, district: str, path: Path | bytes, *, force: bool = False, headers=None):
        content = path if isinstance(path, bytes) else path.read_bytes()
        return await self.client.post(
            f"/api/v1/districts/{district}/sis-imports", params={"force": "true"} if force else None,
            files={"file": ("roster.zip", content, "application/zip")}, headers=headers or self.system)

    async def run(self, run_id: str) -> dict:
        r = await self.client.get(f"/api/v1/sis-imports/{run_id}", headers=self.system)
        assert r.status_code == 200, r.text
        return r.json()

    async def import_roster(self, district: str, path: Path | bytes, *, force: bool = False,
                            expect: str = "succeeded") -> dict:
        r = await self.start_import(district, path, force=force)
        assert r.status_code == 202, r.text
        assert r.json()["status"] in ("queued", "running", expect)  # a broken export can fail before the reply
        await self.parts.runner.wait_idle()
        run = await self.run(r.json()["id"])
        assert run["status"] == expect, run
        return run

    async def users(self, district: str, headers=None, **filters) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"district_id": district, "limit": 500, **filters}
            if cursor:
                params["cursor"] = cursor
            r = await self.client.get("/api/v1/directory/users", params=params, headers=headers or self.system)
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return items

    async def user(self, district: str, sis_id: str) -> dict:
        [user] = await self.users(district, sis_id=sis_id)
        return user

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.settings.database_url))

    async def outbox_empty(self) -> bool:
        conn = await self.db()
        try:
            return await conn.fetchval("SELECT count(*) FROM outbox_message") == 0
        finally:
            await conn.close()

    async def directory_snapshot(self) -> list:
        """Every directory row and school, to compare before/after a run that must change nothing."""
        conn = await self.db()
        try:
            users = await conn.fetch("SELECT * FROM directory_user ORDER BY district_id, sis_id")
            schools = await conn.fetch("SELECT * FROM school ORDER BY district_id, id")
            return [tuple(r.values()) for r in users] + [tuple(r.values()) for r in schools]
        finally:
            await conn.close()

    async def publish(self, event: Event) -> None:
        connection = await aio_pika.connect(self.rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            await exchange.publish(
                aio_pika.Message(event.model_dump_json().encode(), type=event.event_name,
                                 message_id=str(event.event_id), content_type="application/json"),
                routing_key=event.event_name)

    async def publish_settings(self, district: str, auto_update: bool, version: int) -> DistrictSettingsChanged:
        event = DistrictSettingsChanged(
            district_id=district, version=version,
            settings=DistrictSettings(district_id=district, version=version,
                                      sis_sync=SisSyncSettings(contact_details_auto_update=auto_update)))
        await self.publish(event)
        return event

    async def set_contact_auto_update(self, district: str, on: bool, version: int) -> None:
        """Publish the district's settings and wait until the projection holds this version."""
        await self.publish_settings(district, on, version)

        async def applied() -> bool:
            conn = await self.db()
            try:
                return await conn.fetchval(
                    "SELECT version FROM district_settings WHERE district_id = $1", district) == version
            finally:
                await conn.close()

        await wait_until(applied, message="the settings projection")

    @staticmethod
    async def run_events(spy, run_id: str, prefix: str = "directory.") -> list:
        """The events this run wrote: they share its sis.sync.completed's correlation id, and the outbox
        publishes them in order, so once that arrives, they all have."""
        def completed():
            return next((m for m in spy.messages
                         if m.type == "sis.sync.completed" and json.loads(m.body)["run_id"] == run_id), None)

        await wait_until(lambda: completed() is not None, timeout=20, message=f"sis.sync.completed of run {run_id}")
        cid = completed().correlation_id
        return [m for m in spy.messages if m.type.startswith(prefix) and m.correlation_id == cid]

    @staticmethod
    def zip_bytes(files: dict[str, bytes | str]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in files.items():
                zf.writestr(name, content)
        return buffer.getvalue()

    @staticmethod
    def read_zip(path: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(path) as zf:
            return {name: zf.read(name) for name in zf.namelist()}


@pytest_asyncio.fixture(scope="module")
async def module_database(database_factory) -> str:
    """One migrated database per test module: tests use districts of their own, so they share it."""
    url = await database_factory("sis")
    await upgrade(SERVICE_DIR, url)
    return url


@pytest_asyncio.fixture
async def make_service(database_factory, module_database, rabbitmq_url, topology, tmp_path):
    """Builds a running service (on the module's database, or a new one with fresh=True);
    keyword arguments override settings."""
    harnesses: list[Harness] = []

    async def make(fresh: bool = False, **overrides) -> Harness:
        url = module_database
        if fresh:
            url = await database_factory("sis")
            await upgrade(SERVICE_DIR, url)
        settings = Settings(**{"database_url": url, "rabbitmq_url": rabbitmq_url,
                               "events_namespace": topology.namespace, "outbox_poll_seconds": 0.2,
                               "upload_dir": tmp_path / "uploads", **overrides})
        app = create_app(settings)
        runtime = app.state.runtime
        await runtime.start()
        harness = Harness(app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                                 timeout=60), settings, rabbitmq_url, topology.exchange)
        harnesses.append(harness)
        await wait_until(lambda: runtime.broker_started and runtime.relay.connected, message="service started")
        return harness

    yield make
    for harness in reversed(harnesses):
        await harness.parts.runner.wait_idle()
        # Publish everything this test wrote before stopping, so the next test's relay (same
        # database, other namespace) never sees it.
        await wait_until(harness.outbox_empty, timeout=20, message="the outbox drained")
        await harness.client.aclose()
        await harness.runtime.stop()


@pytest_asyncio.fixture
async def service(make_service) -> Harness:
    return await make_service()


@pytest.fixture
def pause_before_commit(monkeypatch):
    """`pause_before_commit(harness)`: from then on, that service's imports wait inside their apply
    transaction, every write done and nothing committed, until they are cancelled.

    Writing the run's events is the last statement before COMMIT (`ImportPipeline._apply`), so the
    wait follows it; it applies to the runs of that service's pipeline."""
    paused = set()
    write_events = imports.write_events

    async def write_events_then_wait(conn, events, correlation_id=None) -> None:
        await write_events(conn, events, correlation_id)
        if any(isinstance(e, SisSyncCompleted) and e.status == "succeeded" and e.run_id in paused for e in events):
            await asyncio.sleep(120)

    monkeypatch.setattr(imports, "write_events", write_events_then_wait)

    def pause(harness: Harness) -> None:
        pipeline = harness.parts.pipeline
        begin = pipeline.begin

        async def begin_paused(*args, **kwargs) -> imports.StartedRun:
            started = await begin(*args, **kwargs)
            paused.add(started.run_id)
            return started

        monkeypatch.setattr(pipeline, "begin", begin_paused)

    return pause



@pytest.fixture
def district() -> str:
    """A district id of this test's own."""
    return f"d{uuid.uuid4().hex[:8]}"
