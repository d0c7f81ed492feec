"""Shared by the integration and browser tests: the requests service in-process against real
RabbitMQ and PostgreSQL.

`svc` builds the app on a fresh database and the test's own event namespace, runs its lifespan
(broker, consumers, outbox relay) and gives an httpx client plus helpers that feed it what the
settings and sis_sync services would publish.
"""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import aio_pika
import asyncpg
import httpx
import pytest_asyncio
from pur_contracts import (
    DirectorySchool,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
    SisSyncSettings,
    UserPermissions,
    UsersManagerScope,
)
from pur_kit.auth import mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from pur_kit.testing import TcpProxy, wait_until
from requests_service.config import Settings
from requests_service.entrypoints.app import create_app
from sqlalchemy.engine import make_url
from yarl import URL

SERVICE_DIR = Path(__file__).resolve().parents[1]


class World:
    """Publishes contract events as the other services would, and waits until they are applied."""

    def __init__(self, rabbitmq_url: str, topology, dsn: str) -> None:
        self.rabbitmq_url = rabbitmq_url
        self.topology = topology
        self.dsn = dsn
        self.versions: dict[str, int] = {}
        self.users: dict[uuid.UUID, DirectoryUser] = {}
        self.pending: list[tuple[str, str, object, int]] = []
        self._amqp = None
        self._exchange = None
        self._db: asyncpg.Connection | None = None

    async def close(self) -> None:
        if self._amqp is not None:
            await self._amqp.close()
        if self._db is not None:
            await self._db.close()

    def _next_version(self, key: str) -> int:
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.versions[key]

    async def publish(self, event, message_id: str | None = None) -> None:
        if self._exchange is None:
            self._amqp = await aio_pika.connect(self.rabbitmq_url)
            channel = await self._amqp.channel(publisher_confirms=True)
            self._exchange = await channel.declare_exchange(self.topology.exchange, aio_pika.ExchangeType.TOPIC,
                                                            durable=True)
        await self._exchange.publish(
            aio_pika.Message(event.model_dump_json().encode(), message_id=message_id or str(event.event_id),
                             type=event.event_name, content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=event.event_name)

    async def fetchval(self, sql: str, *args):
        if self._db is None:
            self._db = await asyncpg.connect(self.dsn)
        return await self._db.fetchval(sql, *args)

    async def expect(self, table: str, key: str, value, version: int, wait: bool) -> None:
        self.pending.append((table, key, value, version))
        if wait:
            await self.settle()

    async def settle(self) -> None:
        """Wait until every event published so far is applied by the service."""
        async def applied() -> bool:
            while self.pending:
                if not await self._version_is(*self.pending[0]):
                    return False
                self.pending.pop(0)
            return True

        await wait_until(applied, interval=0.01, message="projection events applied")

    async def settings(self, district: str, *, enabled: bool, contact_auto: bool = True, wait: bool = True) -> None:
        version = self._next_version(f"settings:{district}")
        await self.publish(DistrictSettingsChanged(district_id=district, version=version, settings=DistrictSettings(
            district_id=district, version=version, profile_update_requests_enabled=enabled,
            sis_sync=SisSyncSettings(contact_details_auto_update=contact_auto))))
        await self.expect("district_settings", "district_id", district, version, wait)

    async def school(self, district: str, school_id: str, name: str, wait: bool = True) -> None:
        version = self._next_version(f"school:{district}:{school_id}")
        await self.publish(DirectorySchoolUpserted(district_id=district, version=version, school=DirectorySchool(
            id=school_id, district_id=district, name=name)))
        await self.expect("school", "id", school_id, version, wait)

    async def user(self, district: str, *, schools: list[str], role: str = "student", given: str = "Ada",
                   family: str | None = None, email: str | None = None, phone: str | None = None,
                   sms: str | None = None, manager: str | list[str] | None = None, admin: bool = False,
                   active: bool = True, user_id: uuid.UUID | None = None, wait: bool = True) -> DirectoryUser:
        user_id = user_id or uuid.uuid4()
        scope = None
        if manager == "district":
            scope = UsersManagerScope(scope="district")
        elif manager is not None:
            scope = UsersManagerScope(scope="schools", school_ids=list(manager))
        user = DirectoryUser(
            id=user_id, district_id=district, sis_id=f"sis-{user_id.hex[:8]}", role=role, given_name=given,
            family_name=family or f"Fam{user_id.hex[:6]}", email=email, phone=phone, sms=sms, school_ids=schools,
            active=active, permissions=UserPermissions(district_admin=admin, users_manager=scope))
        return await self.put_user(user, wait=wait)

    async def put_user(self, user: DirectoryUser, wait: bool = True, **changes) -> DirectoryUser:
        user = user.model_copy(update=changes)
        version = self._next_version(f"user:{user.id}")
        await self.publish(DirectoryUserUpserted(district_id=user.district_id, version=version, user=user))
        await self.expect("directory_user", "id", user.id, version, wait)
        self.users[user.id] = user
        return user

    async def _version_is(self, table: str, key: str, value, version: int) -> bool:
        found = await self.fetchval(f"SELECT max(version) FROM {table} WHERE {key} = $1", value)
        return found is not None and found >= version


def headers_for(user: DirectoryUser | None = None, *, system: bool = False, secret: str = DEV_JWT_SECRET,
                ttl: int = 3600) -> dict[str, str]:
    if system:
        token = mint_token(secret, sub="system", system=True, ttl_seconds=ttl)
    else:
        token = mint_token(secret, sub=str(user.id), district_id=user.district_id, ttl_seconds=ttl)
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def svc(database_factory, rabbitmq_url, topology):
    url = await database_factory("requests")
    await upgrade(SERVICE_DIR, url)
    settings = Settings(database_url=url, rabbitmq_url=rabbitmq_url, events_namespace=topology.namespace,
                        dev_login=True, db_pool_size=4, outbox_poll_seconds=1.0,
                        consumer_retry_delay_ms=100)
    app = create_app(settings)
    runtime = app.state.runtime
    async with runtime.lifespan(app):
        await wait_until(lambda: runtime.broker_started, message="broker started")
        world = World(rabbitmq_url, topology, asyncpg_dsn(url))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                yield SimpleNamespace(app=app, client=client, runtime=runtime, settings=settings,
                                      topology=topology, rabbitmq_url=rabbitmq_url, world=world,
                                      dsn=asyncpg_dsn(url), headers=headers_for,
                                      system=headers_for(system=True), new_district=new_district)
        finally:
            await world.close()


def new_district() -> str:
    return f"d{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture
async def cast(svc):
    """A district with two schools, enabled, and one person of every kind the rules distinguish."""
    w, d, other = svc.world, new_district(), new_district()
    await w.settings(d, enabled=True, wait=False)
    await w.settings(other, enabled=True, wait=False)
    await w.school(d, "sch-a", "Alder Elementary", wait=False)
    await w.school(d, "sch-b", "Birch High", wait=False)
    people = SimpleNamespace(district=d, other_district=other)
    people.requester_a = await w.user(d, schools=["sch-a"], given="Rita", family="Requester",
                                      email="rita@example.org", phone="+15555550100", wait=False)
    people.requester_b = await w.user(d, schools=["sch-b"], given="Bob", family="Builder",
                                      email="bob@example.org", wait=False)
    people.staff = await w.user(d, schools=["sch-a"], role="teacher", given="Sam", family="Staff", wait=False)
    people.admin = await w.user(d, schools=["sch-a"], role="administrator", given="Ann", family="Admin",
                               admin=True, wait=False)
    people.manager_a = await w.user(d, schools=["sch-a"], role="teacher", given="Mia", family="Alder",
                                    manager=["sch-a"], wait=False)
    people.manager_b = await w.user(d, schools=["sch-b"], role="teacher", given="Max", family="Birch",
                                    manager=["sch-b"], wait=False)
    people.district_manager = await w.user(d, schools=[], role="administrator", given="Dora", family="District",
                                           manager="district", wait=False)
    people.other_manager = await w.user(other, schools=["sch-a"], role="administrator", given="Olga",
                                        family="Other", manager="district", wait=False)
    await w.settle()
    return people


@asynccontextmanager
async def service_behind_proxies(url: str, rabbitmq_url: str, topology):
    db, amqp = make_url(url), URL(rabbitmq_url)
    async with TcpProxy(db.host, db.port or 5432) as db_proxy, \
            TcpProxy(amqp.host, amqp.port or 5672) as amqp_proxy:
        settings = Settings(database_url=db.set(port=db_proxy.port).render_as_string(hide_password=False),
                            rabbitmq_url=str(amqp.with_port(amqp_proxy.port)),
                            events_namespace=topology.namespace, db_pool_size=2,
                            outbox_poll_seconds=1.0, consumer_retry_delay_ms=100)
        app = create_app(settings)
        runtime = app.state.runtime
        async with runtime.lifespan(app):
            await wait_until(lambda: runtime.broker_started, message="broker started")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                yield SimpleNamespace(client=client, runtime=runtime, db_proxy=db_proxy, amqp_proxy=amqp_proxy)


@pytest_asyncio.fixture
async def faulty(database_factory, rabbitmq_url, topology):
    url = await database_factory("requests")
    await upgrade(SERVICE_DIR, url)
    # The world talks to the real broker and database, not through the proxies.
    world = World(rabbitmq_url, topology, asyncpg_dsn(url))
    try:
        async with service_behind_proxies(url, rabbitmq_url, topology) as svc:
            district = new_district()
            await world.settings(district, enabled=True, wait=False)
            await world.school(district, "sch-a", "Alder Elementary", wait=False)
            people = [await world.user(district, schools=["sch-a"], given=f"P{i}", wait=False) for i in range(4)]
            await world.settle()
            yield SimpleNamespace(**vars(svc), world=world, district=district, people=people,
                                  rabbitmq_url=rabbitmq_url, topology=topology, headers=headers_for)
    finally:
        await world.close()
