"""The digest service in-process against real RabbitMQ, PostgreSQL and an aiosmtpd SMTP server.

`svc` builds the app on a fresh database and the test's own event namespace with an injected
clock, runs its lifespan (broker, consumers, outbox relay; the scheduler loop off unless asked
for, so tests call `runtime.parts.scheduler.tick()` at the instants they choose), and gives an
httpx client, the mailbox, and `world`: helpers that publish what the settings, sis_sync and
requests services would. Its public API URL (the emails' unsubscribe link) names a free port,
`svc.api_port`, where `http_server` serves the same app over real HTTP.
"""
from __future__ import annotations

import contextlib
import email
import email.policy
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import aio_pika
import asyncpg
import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from digest_service.config import Settings
from digest_service.entrypoints.app import create_app
from pur_contracts import (
    DirectorySchool,
    DirectorySchoolUpserted,
    DirectoryUser,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
    NotificationSettings,
    RequestMarkedDone,
    RequestRestored,
    RequestSnapshot,
    RequestSubmitted,
    UserPermissions,
    UsersManagerScope,
)
from pur_kit.auth import mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from pur_kit.testing import free_port, wait_until
from pur_kit.testing.browser import served

SERVICE_DIR = Path(__file__).resolve().parents[2]
NY = "America/New_York"


def quiet_evening() -> datetime:
    """The latest 20:00 in New York that has passed: after the districts' 07:00 digest and its grace,
    and hours before local midnight, so tests that move the clock a few hours stay on one local day
    whatever the time CI runs at."""
    zone = ZoneInfo(NY)
    local = datetime.now(UTC).astimezone(zone)
    evening = datetime.combine(local.date(), time(20, 0), tzinfo=zone)
    if evening > local:
        evening = datetime.combine(local.date() - timedelta(days=1), time(20, 0), tzinfo=zone)
    return evening.astimezone(UTC)


class FakeClock:
    """The injected clock: returns `now` until a test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or quiet_evening()

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and answers with scripted refusals."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.rcpt_replies: dict[str, list[str]] = {}   # address -> next replies to RCPT TO (then 250)
        self.data_replies: list[str] = []              # next replies to the end of DATA (then 250)
        self.refused: list[str] = []
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        replies = self.rcpt_replies.get(address)
        if replies:
            reply = replies.pop(0)
            self.refused.append(f"RCPT {address} {reply}")
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_replies:
            reply = self.data_replies.pop(0)
            self.refused.append(f"DATA {reply}")
            return reply
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg.envelope_to = list(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in m.envelope_to]

    def count_by_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.messages:
            for address in m.envelope_to:
                counts[address] = counts.get(address, 0) + 1
        return counts


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, port: int | None = None):
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    mailbox.port = controller.port
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def mailbox():
    box = Mailbox()
    with smtp_server(box):
        yield box


class World:
    """Publishes contract events as the other services would, and waits until they are applied."""

    def __init__(self, rabbitmq_url: str, topology, dsn: str, clock: FakeClock) -> None:
        self.rabbitmq_url = rabbitmq_url
        self.topology = topology
        self.dsn = dsn
        self.clock = clock
        self.versions: dict[str, int] = {}
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

    async def _expect(self, table: str, key: str, value, version: int, wait: bool) -> None:
        self.pending.append((table, key, value, version))
        if wait:
            await self.settle()

    async def settle(self) -> None:
        """Wait until every event published so far is applied by the service."""
        async def applied() -> bool:
            while self.pending:
                table, key, value, version = self.pending[0]
                found = await self.fetchval(f"SELECT max(version) FROM {table} WHERE {key} = $1", value)
                if found is None or found < version:
                    return False
                self.pending.pop(0)
            return True

        await wait_until(applied, interval=0.01, message="projection events applied")

    # --- settings ------------------------------------------------------------------------------
    async def settings(self, district: str, *, enabled: bool = True, digest: bool = True, local_time: str = "07:00",
                       timezone: str = NY, wait: bool = True) -> None:
        version = self._next_version(f"settings:{district}")
        await self.publish(DistrictSettingsChanged(district_id=district, version=version, settings=DistrictSettings(
            district_id=district, version=version, profile_update_requests_enabled=enabled,
            notifications=NotificationSettings(daily_digest_enabled=digest, digest_local_time=local_time,
                                               timezone=timezone))))
        await self._expect("district_settings", "district_id", district, version, wait)

    # --- directory -----------------------------------------------------------------------------
    async def school(self, district: str, school_id: str, name: str, wait: bool = True) -> None:
        version = self._next_version(f"school:{district}:{school_id}")
        await self.publish(DirectorySchoolUpserted(district_id=district, version=version, school=DirectorySchool(
            id=school_id, district_id=district, name=name)))
        await self._expect("school", "id", school_id, version, wait)

    async def user(self, district: str, *, schools: list[str], given: str = "Ada", family: str | None = None,
                   email: str | None = None, manager: str | list[str] | None = None, admin: bool = False,
                   role: str = "teacher", active: bool = True, wait: bool = True) -> DirectoryUser:
        user_id = uuid.uuid4()
        scope = None
        if manager == "district":
            scope = UsersManagerScope(scope="district")
        elif manager is not None:
            scope = UsersManagerScope(scope="schools", school_ids=list(manager))
        user = DirectoryUser(
            id=user_id, district_id=district, sis_id=f"sis-{user_id.hex[:8]}", role=role, given_name=given,
            family_name=family or f"Fam{user_id.hex[:6]}", email=email, school_ids=schools, active=active,
            permissions=UserPermissions(district_admin=admin, users_manager=scope))
        return await self.put_user(user, wait=wait)

    async def put_user(self, user: DirectoryUser, wait: bool = True, **changes) -> DirectoryUser:
        user = user.model_copy(update=changes)
        version = self._next_version(f"user:{user.id}")
        event_class = DirectoryUserUpserted if user.active else DirectoryUserDeactivated
        await self.publish(event_class(district_id=user.district_id, version=version, user=user))
        await self._expect("directory_user", "id", user.id, version, wait)
        return user

    # --- requests ------------------------------------------------------------------------------
    async def request(self, requester: DirectoryUser, *, fields: tuple[str, ...] = ("email",),
                      submitted_at: datetime | None = None, appears_applied: bool = False, has_note: bool = False,
                      wait: bool = True) -> RequestSnapshot:
        snapshot = RequestSnapshot(
            id=uuid.uuid4(), district_id=requester.district_id, requester_id=requester.id,
            requester_name=f"{requester.given_name} {requester.family_name}", school_ids=list(requester.school_ids),
            status="new", fields=list(fields), has_note=has_note, appears_applied=appears_applied,
            submitted_at=submitted_at or self.clock() - timedelta(hours=1))
        return await self._request_event(RequestSubmitted, snapshot, wait)

    async def mark_done(self, snapshot: RequestSnapshot, wait: bool = True) -> RequestSnapshot:
        done = snapshot.model_copy(update={"status": "done", "done_at": self.clock(), "done_by": "someone"})
        return await self._request_event(RequestMarkedDone, done, wait)

    async def restore(self, snapshot: RequestSnapshot, wait: bool = True) -> RequestSnapshot:
        restored = snapshot.model_copy(update={"status": "new", "done_at": None, "done_by": None})
        return await self._request_event(RequestRestored, restored, wait)

    async def _request_event(self, event_class, snapshot: RequestSnapshot, wait: bool) -> RequestSnapshot:
        version = self._next_version(f"request:{snapshot.id}")
        await self.publish(event_class(district_id=snapshot.district_id, version=version, request=snapshot))
        await self._expect("request", "id", snapshot.id, version, wait)
        return snapshot


def headers_for(user: DirectoryUser | None = None, *, system: bool = False) -> dict[str, str]:
    if system:
        token = mint_token(DEV_JWT_SECRET, sub="system", system=True)
    else:
        token = mint_token(DEV_JWT_SECRET, sub=str(user.id), district_id=user.district_id)
    return {"Authorization": f"Bearer {token}"}


def new_district() -> str:
    return f"d{uuid.uuid4().hex[:8]}"


def digest_settings(url: str, rabbitmq_url: str, topology, smtp_port: int, **overrides) -> Settings:
    values = dict(database_url=url, rabbitmq_url=rabbitmq_url, events_namespace=topology.namespace,
                  smtp_port=smtp_port, scheduler_enabled=False, db_pool_size=4,
                  outbox_poll_seconds=1.0, consumer_retry_delay_ms=100, smtp_connections=2, send_concurrency=2,
                  retry_backoff_seconds=60, public_base_url="http://requests.test",
                  settings_public_url="http://settings.test")
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: FakeClock):
    """One digest instance (a replica, or the same service after a restart)."""
    app = create_app(settings, clock=clock)
    runtime = app.state.runtime
    async with runtime.lifespan(app):
        await wait_until(lambda: runtime.broker_started, message="broker started")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield SimpleNamespace(app=app, runtime=runtime, client=client)


@pytest_asyncio.fixture
async def digest_db(database_factory):
    url = await database_factory("digest")
    await upgrade(SERVICE_DIR, url)
    return url


@pytest.fixture
def clock():
    return FakeClock()


@pytest_asyncio.fixture
async def svc(digest_db, rabbitmq_url, topology, mailbox, clock):
    api_port = free_port()
    settings = digest_settings(digest_db, rabbitmq_url, topology, mailbox.port,
                               public_api_url=f"http://127.0.0.1:{api_port}")
    async with running(settings, clock) as instance:
        world = World(rabbitmq_url, topology, asyncpg_dsn(digest_db), clock)
        try:
            yield SimpleNamespace(
                app=instance.app, client=instance.client, runtime=instance.runtime, settings=settings,
                topology=topology, rabbitmq_url=rabbitmq_url, world=world, mailbox=mailbox, clock=clock,
                dsn=asyncpg_dsn(digest_db), db_url=digest_db, headers=headers_for, system=headers_for(system=True),
                api_port=api_port,
            )
        finally:
            await world.close()


@pytest_asyncio.fixture
async def http_server(svc):
    """The base URL of `svc` served over real HTTP (the origin of its emails' unsubscribe links)."""
    async with served(svc.app, svc.api_port) as url:
        yield url


@pytest_asyncio.fixture
async def cast(svc):
    """An enabled district with two schools, its managers, an admin, and New/done requests."""
    w, d = svc.world, new_district()
    await w.settings(d, wait=False)
    await w.school(d, "sch-a", "Alder Elementary", wait=False)
    await w.school(d, "sch-b", "Birch High", wait=False)
    people = SimpleNamespace(district=d)
    people.manager_a = await w.user(d, schools=["sch-a"], given="Mia", family="Alder", email="mia@example.org",
                                    manager=["sch-a"], wait=False)
    people.manager_b = await w.user(d, schools=["sch-b"], given="Max", family="Birch", email="max@example.org",
                                    manager=["sch-b"], wait=False)
    people.district_manager = await w.user(d, schools=[], given="Dora", family="District",
                                           email="dora@example.org", manager="district", wait=False)
    people.admin = await w.user(d, schools=["sch-a"], given="Ann", family="Admin", email="ann@example.org",
                                admin=True, wait=False)
    people.pupil_a = await w.user(d, schools=["sch-a"], given="Rita", family="Requester", role="student",
                                  email="rita@example.org", wait=False)
    people.pupil_b = await w.user(d, schools=["sch-b"], given="Bob", family="Builder", role="student", wait=False)
    people.pupil_ab = await w.user(d, schools=["sch-a", "sch-b"], given="Cleo", family="Both", role="student",
                                   wait=False)
    now = svc.clock()
    people.req_a = await w.request(people.pupil_a, fields=("email", "phone"), submitted_at=now - timedelta(hours=3),
                                   appears_applied=True, wait=False)
    people.req_b = await w.request(people.pupil_b, fields=("family_name",), submitted_at=now - timedelta(hours=2),
                                   has_note=True, wait=False)
    people.req_ab = await w.request(people.pupil_ab, fields=("sms",), submitted_at=now - timedelta(hours=1),
                                    wait=False)
    people.req_done = await w.request(people.pupil_a, fields=("given_name",), submitted_at=now - timedelta(days=2),
                                      wait=False)
    await w.settle()
    await w.mark_done(people.req_done)
    return people


@pytest.fixture
def harness():
    """The helpers above, for tests that build their own instances (replicas, restarts)."""
    return SimpleNamespace(FakeClock=FakeClock, World=World, Mailbox=Mailbox, smtp_server=smtp_server,
                           digest_settings=digest_settings, running=running, headers_for=headers_for,
                           new_district=new_district)
