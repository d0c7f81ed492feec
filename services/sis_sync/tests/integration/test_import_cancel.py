"""Cancelling an import through the API or the CLI: the run fails, nothing is changed, the
district's next import runs, and the process keeps serving."""
from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

CLI = str(Path(sys.executable).with_name("pur-sis-sync"))


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("cancel") / "roster.zip",
                           schools=2, students=20, parents=10, staff=5, seed=41)


@pytest.fixture(scope="module")
def changed(roster, tmp_path_factory):
    return rewrite_users(roster, tmp_path_factory.mktemp("cancel") / "changed.zip",
                         lambda row: {**row, "familyName": row["familyName"] + "-x"})


@pytest.fixture
def stuck_service(make_service, pause_before_commit):
    """Builds a service whose imports wait inside their apply transaction (every write done, not committed)."""
    async def make():
        stuck = await make_service(cancel_poll_seconds=0.2)
        pause_before_commit(stuck)
        return stuck

    return make


async def test_cancelling_a_running_import_through_the_api_fails_it_and_changes_nothing(
        make_service, stuck_service, district, roster, changed):
    service = await make_service()
    stuck = await stuck_service()
    await service.import_roster(district, roster)
    before = await service.directory_snapshot()

    r = await stuck.start_import(district, changed)
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    await wait_until(lambda: _phase_is(stuck, run_id, "applying"), message="the run to reach its apply transaction")

    r = await stuck.client.post(f"/api/v1/sis-imports/{run_id}/cancel", headers=stuck.system)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    assert r.json()["failure"] == "cancelled by the system credential; nothing was changed"
    assert r.json()["errors"][0]["message"] == r.json()["failure"]
    assert await service.directory_snapshot() == before

    r = await stuck.client.post(f"/api/v1/sis-imports/{run_id}/cancel", headers=stuck.system)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await stuck.client.post(f"/api/v1/sis-imports/{uuid.uuid4()}/cancel", headers=stuck.system)
    assert r.status_code == 404
    assert (await stuck.client.get("/healthz")).status_code == 200
    run = await service.import_roster(district, changed)  # the district's slot is free
    assert run["counts"]["updated"] == 35


async def test_only_the_system_or_a_district_administrator_may_cancel(make_service, district, roster):
    service = await make_service()
    await service.import_roster(district, roster)
    [admin, other] = (await service.users(district, role="teacher"))[:2]
    r = await service.client.put(f"/api/v1/directory/users/{admin['id']}/permissions",
                                 json={"district_admin": True}, headers=service.system)
    assert r.status_code == 200, r.text
    live = await service.parts.pipeline.begin(district, source="cli", source_name="held.zip")
    try:
        r = await service.client.post(f"/api/v1/sis-imports/{live.run_id}/cancel", headers=service.person(other))
        assert r.status_code == 404  # like reading it: the run's existence does not leak
        r = await service.client.post(f"/api/v1/sis-imports/{live.run_id}/cancel", headers=service.person(admin))
        # its owner (this test's connection) runs no pipeline: the request waits for it on the run
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
    finally:
        await live.release()
    assert (await service.run(str(live.run_id)))["status"] == "queued"

    async def cancelled() -> bool:  # its owner died: a request fails it on the spot (once PostgreSQL noticed)
        r = await service.client.post(f"/api/v1/sis-imports/{live.run_id}/cancel", headers=service.person(admin))
        assert r.status_code in (200, 202), r.text
        return r.status_code == 200

    await wait_until(cancelled, message="the orphaned run to be cancelled")
    run = await service.run(str(live.run_id))
    assert run["status"] == "failed"
    assert run["failure"] == f"cancelled by district administrator {admin['id']}; nothing was changed"
    run = await service.import_roster(district, roster)
    assert run["counts"]["unchanged"] == 35


async def test_the_cli_cancels_an_import_that_another_process_is_running(
        make_service, stuck_service, district, roster, changed):
    service = await make_service()
    stuck = await stuck_service()
    await service.import_roster(district, roster)
    before = await service.directory_snapshot()
    r = await stuck.start_import(district, changed)
    run_id = r.json()["id"]
    await wait_until(lambda: _phase_is(stuck, run_id, "applying"), message="the run to reach its apply transaction")

    env = {**os.environ, "SIS_SYNC_DATABASE_URL": service.settings.database_url,
           "SIS_SYNC_EVENTS_NAMESPACE": service.settings.events_namespace}
    process = await asyncio.create_subprocess_exec(
        CLI, "cancel-import", run_id, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines() == [f"run {run_id}: failed",
                                         "  cancelled by an operator (CLI); nothing was changed"]
    assert await service.directory_snapshot() == before
    await stuck.parts.runner.wait_idle()

    process = await asyncio.create_subprocess_exec(
        CLI, "cancel-import", run_id, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    assert process.returncode == 2 and "already ended (failed)" in err.decode()
    run = await service.import_roster(district, changed)
    assert run["counts"]["updated"] == 35


async def _phase_is(service, run_id: str, phase: str) -> bool:
    return (await service.run(run_id))["phase"] == phase
