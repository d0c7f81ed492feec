"""Import runs: one per district at a time, orphans of crashed processes, and crash safety of apply."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from pur_kit.testing import EventSpy, wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

CLI = str(Path(sys.executable).with_name("pur-sis-sync"))
PAUSED_CLI = str(Path(__file__).with_name("paused_cli.py"))  # the CLI, its imports held before COMMIT


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("runs") / "roster.zip",
                           schools=2, students=40, parents=30, staff=10, seed=13)


async def test_a_second_run_for_the_same_district_gets_409_and_a_crashed_runs_slot_is_freed(
        service, district, roster):
    live = await service.parts.pipeline.begin(district, source="cli", source_name="held.zip")
    try:
        r = await service.start_import(district, roster)
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        other = await service.import_roster(district + "x", roster)  # other districts are not blocked
        assert other["counts"]["created"] == 80
    finally:
        await live.release()  # its owner lets go of it: the run is orphaned, still "queued"
    assert (await service.run(str(live.run_id)))["status"] == "queued"

    run = await service.import_roster(district, roster)  # sweeps the orphan, then runs
    assert run["counts"]["created"] == 80
    orphan = await service.run(str(live.run_id))
    assert orphan["status"] == "failed" and "interrupted" in orphan["failure"]


async def test_the_periodic_sweep_fails_orphans_but_never_a_live_run(service, district, roster):
    live = await service.parts.pipeline.begin(district, source="cli")
    orphan = await service.parts.pipeline.begin(district + "o", source="cli")
    await orphan.release()
    try:
        assert await service.parts.runner.sweep_orphans() >= 1
        assert (await service.run(str(live.run_id)))["status"] == "queued"
        assert (await service.run(str(orphan.run_id)))["status"] == "failed"
    finally:
        await live.release()


async def test_a_process_killed_during_apply_leaves_the_directory_as_it_was_and_the_next_run_succeeds(
        service, district, roster, tmp_path):
    await service.import_roster(district, roster)
    before = await service.directory_snapshot()
    changed = rewrite_users(roster, tmp_path / "changed.zip", lambda row: {**row, "familyName": row["familyName"] + "-x"})
    env = {**os.environ, "SIS_SYNC_DATABASE_URL": service.settings.database_url,
           "SIS_SYNC_EVENTS_NAMESPACE": service.settings.events_namespace}

    async with EventSpy(service.rabbitmq_url, service.exchange, ["directory.#", "sis.sync.completed"]) as spy:
        process = await asyncio.create_subprocess_exec(
            sys.executable, PAUSED_CLI, "import", str(changed), "--district", district, "--no-progress", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(60):
                while b"paused_before_commit" not in (line := await process.stderr.readline()):
                    assert line, "the CLI ended before reaching the apply transaction"
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        assert process.returncode == -signal.SIGKILL

        # everything was applied inside the transaction, then the process died before COMMIT
        assert await service.directory_snapshot() == before
        runs = (await service.client.get(f"/api/v1/districts/{district}/sis-imports", headers=service.system)).json()
        crashed = runs["items"][0]
        assert crashed["status"] == "running" and crashed["phase"] == "applying"

        # PostgreSQL ends the killed client's session (rolling back, releasing its run lock) on its own
        await wait_until(service.parts.runner.sweep_orphans, message="the killed run's session to end")
        run = await service.import_roster(district, changed)
        assert run["counts"] == {"created": 0, "updated": 80, "unchanged": 0, "deactivated": 0, "rejected": 0}
        assert await service.run_events(spy, crashed["id"]) == []  # the killed run published nothing
        assert len(await service.run_events(spy, run["id"])) == 80
    crashed = await service.run(crashed["id"])
    assert crashed["status"] == "failed" and "interrupted" in crashed["failure"]
    assert all(u["family_name"].endswith("-x") for u in await service.users(district))


async def test_the_cli_imports_a_roster_with_a_progress_bar(service, district, roster):
    env = {**os.environ, "SIS_SYNC_DATABASE_URL": service.settings.database_url,
           "SIS_SYNC_EVENTS_NAMESPACE": service.settings.events_namespace}
    process = await asyncio.create_subprocess_exec(
        CLI, "import", str(roster), "--district", district, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "succeeded" in out.decode() and "created 80" in out.decode()
    assert "rows" in err.decode()  # tqdm's bar
    assert len(await service.users(district)) == 80

    process = await asyncio.create_subprocess_exec(
        CLI, "grant-admin", "--district", district, "--sis-id", (await service.users(district))[0]["sis_id"],
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert (await service.users(district))[0]["permissions"]["district_admin"] is True
