"""Settings changes have a queue of their own: enabling the feature takes effect while thousands of
directory events of a roster import are still waiting, instead of after them."""
from __future__ import annotations

import asyncio
import os
import time
import uuid

import aio_pika
from pur_contracts import (
    DirectoryUser,
    DirectoryUserUpserted,
    DistrictSettings,
    DistrictSettingsChanged,
)
from pur_kit.db import asyncpg_dsn
from pur_kit.migrations import upgrade
from pur_kit.testing import wait_until
from requests_service.config import Settings
from requests_service.entrypoints.app import create_app

from ..conftest import SERVICE_DIR, World

# PUR_HOL_BACKLOG=20000 reproduces the size of a full roster import for a measurement.
BACKLOG = int(os.environ.get("PUR_HOL_BACKLOG", "5000"))


def message(event) -> aio_pika.Message:
    return aio_pika.Message(event.model_dump_json().encode(), message_id=str(event.event_id), type=event.event_name,
                            content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


async def start_and_stop_once(settings: Settings) -> None:
    """The service's first start declares its queues and bindings; they outlive it."""
    app = create_app(settings)
    async with app.state.runtime.lifespan(app):
        await wait_until(lambda: app.state.runtime.broker_started, message="broker started")


async def test_enabling_the_feature_is_applied_before_a_directory_backlog_drains(database_factory, rabbitmq_url,
                                                                                 topology):
    url = await database_factory("requests")
    await upgrade(SERVICE_DIR, url)
    settings = Settings(database_url=url, rabbitmq_url=rabbitmq_url, events_namespace=topology.namespace,
                        db_pool_size=4, outbox_poll_seconds=1.0)
    await start_and_stop_once(settings)
    district = f"d{uuid.uuid4().hex[:8]}"
    world = World(rabbitmq_url, topology, asyncpg_dsn(url))
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        # While the service is down, a roster import's directory events queue up, then the admin enables.
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange)
        users = [DirectoryUserUpserted(district_id=district, version=1, user=DirectoryUser(
            id=uuid.uuid4(), district_id=district, sis_id=f"s{i}", role="student", given_name="Pupil",
            family_name=f"N{i}", school_ids=["sch-a"])) for i in range(BACKLOG)]
        for start in range(0, BACKLOG, 1000):
            await asyncio.gather(*(exchange.publish(message(event), routing_key=event.event_name)
                                   for event in users[start:start + 1000]))
        enabled = DistrictSettingsChanged(district_id=district, version=1, settings=DistrictSettings(
            district_id=district, version=1, profile_update_requests_enabled=True))
        await exchange.publish(message(enabled), routing_key=enabled.event_name)

        async def enabled_applied() -> bool:
            return await world.fetchval(
                "SELECT profile_update_requests_enabled FROM district_settings WHERE district_id = $1",
                district) is True

        app = create_app(settings)
        started = time.monotonic()
        async with app.state.runtime.lifespan(app):
            await wait_until(enabled_applied, timeout=120, interval=0.02, message="the settings change applied")
            applied_after = time.monotonic() - started
            main = await channel.declare_queue(topology.queue("requests", "main"), passive=True)
            still_waiting = main.declaration_result.message_count
            applied = await world.fetchval("SELECT count(*) FROM directory_user WHERE district_id = $1", district)
    finally:
        await connection.close()
        await world.close()
    print(f"settings applied {applied_after * 1000:.0f} ms after the service started, with {still_waiting} of "
          f"{BACKLOG} directory events still queued ({applied} applied)")
    # On one queue the change would wait behind every directory event published before it.
    assert still_waiting > 0 and applied < BACKLOG
