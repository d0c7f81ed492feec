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
from pur_kit.testing import wait_until

# PUR_HOL_BACKLOG=20000 reproduces the size of a full roster import for a measurement.
BACKLOG = int(os.environ.get("PUR_HOL_BACKLOG", "5000"))


def message(event) -> aio_pika.Message:
    return aio_pika.Message(event.model_dump_json().encode(), message_id=str(event.event_id), type=event.event_name,
                            content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


async def test_enabling_the_feature_is_applied_before_a_directory_backlog_drains(svc):
    district = svc.new_district()
    connection = await aio_pika.connect(svc.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(svc.topology.exchange)
        users = [DirectoryUserUpserted(district_id=district, version=1, user=DirectoryUser(
            id=uuid.uuid4(), district_id=district, sis_id=f"s{i}", role="student", given_name="Pupil",
            family_name=f"N{i}", school_ids=["sch-a"])) for i in range(BACKLOG)]
        for start in range(0, BACKLOG, 1000):  # pipelined: a few seconds for the whole backlog
            await asyncio.gather(*(exchange.publish(message(event), routing_key=event.event_name)
                                   for event in users[start:start + 1000]))
        enabled = DistrictSettingsChanged(district_id=district, version=1, settings=DistrictSettings(
            district_id=district, version=1, profile_update_requests_enabled=True))
        published_at = time.monotonic()
        await exchange.publish(message(enabled), routing_key=enabled.event_name)

        async def enabled_applied() -> bool:
            return await svc.world.fetchval(
                "SELECT profile_update_requests_enabled FROM district_settings WHERE district_id = $1",
                district) is True

        await wait_until(enabled_applied, timeout=120, interval=0.02, message="the settings change applied")
        applied_after = time.monotonic() - published_at
        main = await channel.declare_queue(svc.topology.queue("requests", "main"), passive=True)
        still_waiting = main.declaration_result.message_count
        applied = await svc.world.fetchval("SELECT count(*) FROM directory_user WHERE district_id = $1", district)
    print(f"settings applied {applied_after * 1000:.0f} ms after publishing, with {still_waiting} of "
          f"{BACKLOG} directory events still queued ({applied} applied)")
    assert still_waiting > 0 and applied < BACKLOG
