"""`pur-digest run` previews and sends like the API (a real process on the service's database)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from digest_service.domain.schedule import local_date_of


async def run_cli(svc, *args: str) -> tuple[int, bytes, str]:
    env = {**os.environ, "DIGEST_DATABASE_URL": svc.db_url, "DIGEST_SMTP_PORT": str(svc.mailbox.port),
           "DIGEST_PUBLIC_BASE_URL": "http://requests.test", "DIGEST_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digest_service", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode, out, err.decode()


async def pur_digest(svc, *args: str) -> dict:
    returncode, out, err = await run_cli(svc, *args)
    assert returncode == 0, err
    return json.loads(out)


async def test_the_cli_previews_then_sends_once(svc, cast):
    # The CLI process runs on the real clock, the service in this process on the tests' clock:
    # both are given the district's local date of the latter.
    day = local_date_of(svc.clock(), ZoneInfo("America/New_York")).isoformat()
    preview = await pur_digest(svc, "run", "--district", cast.district, "--date", day, "--dry-run")
    assert {e["to"] for e in preview["emails"]} == {cast.manager_a.email, cast.manager_b.email,
                                                   cast.district_manager.email}
    assert svc.mailbox.messages == []
    sent = await pur_digest(svc, "run", "--district", cast.district, "--date", day)
    assert sent["sent"] == 3 and len(svc.mailbox.messages) == 3
    r = await svc.client.post("/api/v1/digests/run", json={"district_id": cast.district, "date": day},
                              headers=svc.system)
    assert r.json()["sent"] == 0 and r.json()["skipped"] == 3 and len(svc.mailbox.messages) == 3


async def test_the_cli_refuses_a_date_in_the_future_of_the_district_and_sends_nothing(svc, cast):
    tomorrow = local_date_of(datetime.now(UTC), ZoneInfo("America/New_York")) + timedelta(days=1)
    returncode, out, err = await run_cli(svc, "run", "--district", cast.district, "--date", tomorrow.isoformat())
    assert returncode != 0 and out == b""
    assert "date: is in the future in the district's time zone" in err
    assert svc.mailbox.messages == []
    conn = await asyncpg.connect(svc.dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM digest_run WHERE district_id = $1", cast.district) == 0
    finally:
        await conn.close()
