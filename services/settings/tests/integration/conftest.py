"""The settings service in-process against real RabbitMQ and PostgreSQL.

`svc` builds the app on a fresh database and the test's own event namespace, runs its lifespan
(broker, consumer, outbox relay), and offers: an httpx client, tokens, a way to publish what the
directory (sis_sync) would publish, and `events`, a spy of everything on the exchange.
`drain()` makes "nothing else was published" checkable without sleeping: once the outbox is empty
every event was confirmed by the broker, so a sentinel published afterwards arrives after them.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest_asyncio
from pur_contracts import DirectoryUser, DirectoryUserDeactivated, DirectoryUserUpserted, UserPermissions
from pur_kit.auth import SESSION_COOKIE, mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from pur_kit.testing import EventSpy, wait_until
from settings_service.config import Settings
from settings_service.entrypoints.app import create_app

SERVICE_DIR = Path(__file__).resolve().parents[2]
CHANGED = "settings.district.changed"
SENTINEL = "test.sentinel"


def new_district() -> str:
    return f"d{uuid.uuid4().hex[:8]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Harness:
    CHANGED = CHANGED
    new_district = staticmethod(new_district)
    bearer = staticmethod(bearer)

    def __init__(self, app, client, spy: EventSpy, db: asyncpg.Connection, exchange) -> None:
        self.app, self.client, self.events, self.db, self._exchange = app, client, spy, db, exchange
        self.runtime = app.state.runtime
        self.versions: dict[uuid.UUID, int] = {}

    # --- tokens ------------------------------------------------------------------------------
    @staticmethod
    def token(user: DirectoryUser | None = None, *, district: str | None = None, ttl: int = 3600) -> str:
        if user is None and district is None:
            return mint_token(DEV_JWT_SECRET, sub="system", system=True, ttl_seconds=ttl)
        return mint_token(DEV_JWT_SECRET, sub=str(user.id if user else uuid.uuid4()),
                          district_id=district or user.district_id, ttl_seconds=ttl)

    def headers(self, user: DirectoryUser | None = None, **kwargs) -> dict[str, str]:
        return bearer(self.token(user, **kwargs))

    def browser(self, user: DirectoryUser | None) -> httpx.AsyncClient:
        cookies = {SESSION_COOKIE: self.token(user)} if user else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test", cookies=cookies)

    # --- the directory, as sis_sync publishes it --------------------------------------------
    async def publish(self, event, message_id: str | None = None) -> str:
        message_id = message_id or str(event.event_id)
        await self._exchange.publish(
            aio_pika.Message(event.model_dump_json().encode(), message_id=message_id, type=event.event_name,
                             content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=event.event_name)
        return message_id

    def user_event(self, district: str, *, admin: bool = False, active: bool = True,
                   user_id: uuid.UUID | None = None, version: int | None = None, deactivated: bool = False):
        """A directory.user.upserted (or .deactivated) event; versions count up per user unless given."""
        user_id = user_id or uuid.uuid4()
        version = version or self.versions.get(user_id, 0) + 1
        self.versions[user_id] = max(version, self.versions.get(user_id, 0))
        user = DirectoryUser(id=user_id, district_id=district, sis_id=f"sis-{user_id.hex[:8]}", role="administrator",
                             given_name="Test", family_name="Person", active=active and not deactivated,
                             permissions=UserPermissions(district_admin=admin))
        kind = DirectoryUserDeactivated if deactivated else DirectoryUserUpserted
        return kind(district_id=district, version=version, user=user)

    async def user(self, district: str, **kwargs) -> DirectoryUser:
        """Publish a directory user and wait until the service has handled it."""
        event = self.user_event(district, **kwargs)
        await self.processed(await self.publish(event))
        return event.user

    async def processed(self, message_id: str) -> None:
        """Wait until the service's consumer has handled (claimed) this message."""
        async def claimed() -> bool:
            return await self.db.fetchval("SELECT count(*) FROM inbox_message WHERE message_id = $1", message_id) > 0

        await wait_until(claimed, interval=0.01, message=f"message {message_id} processed")

    # --- what the service published ----------------------------------------------------------
    async def drain(self) -> None:
        async def outbox_empty() -> bool:
            return await self.db.fetchval("SELECT count(*) FROM outbox_message") == 0

        await wait_until(outbox_empty, interval=0.01, message="outbox relayed")
        sentinel = uuid.uuid4().hex
        await self._exchange.publish(aio_pika.Message(b"{}", message_id=sentinel, type=SENTINEL),
                                     routing_key=SENTINEL)
        await wait_until(lambda: any(m.message_id == sentinel for m in self.events.messages), interval=0.01,
                         message="sentinel received")

    def published(self, event_name: str | None = None) -> list[dict]:
        """Bodies of what the settings service published (its relay's app_id) since the start."""
        return [json.loads(m.body) for m in self.events.messages
                if m.app_id == "settings" and (event_name is None or m.type == event_name)]

    def published_types(self) -> list[str]:
        return [m.type for m in self.events.messages if m.app_id == "settings"]

    async def settings_of(self, district: str) -> dict:
        r = await self.client.get(f"/api/v1/districts/{district}/settings", headers=self.headers())
        assert r.status_code == 200, r.text
        return r.json()


@pytest_asyncio.fixture
async def svc(database_factory, rabbitmq_url, topology):
    url = await database_factory("settings")
    await upgrade(SERVICE_DIR, url)
    settings = Settings(database_url=url, rabbitmq_url=rabbitmq_url, events_namespace=topology.namespace,
                        db_pool_size=8, outbox_poll_seconds=1.0, consumer_retry_delay_ms=100)
    app = create_app(settings)
    runtime = app.state.runtime
    amqp = await aio_pika.connect(rabbitmq_url)
    db = await asyncpg.connect(asyncpg_dsn(url))
    try:
        channel = await amqp.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        async with EventSpy(rabbitmq_url, topology.exchange) as spy:
            async with runtime.lifespan(app):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                    harness = Harness(app, client, spy, db, exchange)
                    # Started with an empty directory projection: the service asks for a replay first.
                    await spy.wait_for(1, "directory.replay.requested")
                    await harness.drain()
                    harness.startup_events = [(m.type, json.loads(m.body)) for m in spy.messages
                                              if m.app_id == "settings"]
                    spy.messages.clear()
                    yield harness
    finally:
        await db.close()
        await amqp.close()
