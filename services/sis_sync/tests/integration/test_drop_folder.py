"""Scheduled pickup: each district's newest export in the drop folder is imported once."""
from __future__ import annotations

import os
import shutil
import time

from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users


async def test_the_newest_export_of_each_district_is_imported_once(make_service, district, tmp_path):
    drop = tmp_path / "drop"
    service = await make_service(drop_folder=drop, drop_settle_seconds=0)
    roster = generate_roster(tmp_path / "r.zip", schools=2, students=10, parents=6, staff=4, seed=2)
    (drop / district).mkdir(parents=True)
    older = drop / district / "monday.zip"
    shutil.copy(rewrite_users(roster, tmp_path / "old.zip", lambda row: {**row, "givenName": "Old"}), older)
    os.utime(older, (time.time() - 3600, time.time() - 3600))
    shutil.copy(roster, drop / district / "tuesday.zip")

    [run_id] = (await service.parts.runner.pick_up_drop_folder()).started
    await service.parts.runner.wait_idle()
    run = await service.run(str(run_id))
    assert run["status"] == "succeeded" and run["source"] == "drop_folder" and run["source_name"] == "tuesday.zip"
    assert run["counts"]["created"] == 20
    assert (await service.parts.runner.pick_up_drop_folder()).started == []  # already imported

    changed = rewrite_users(roster, tmp_path / "wed.zip", lambda row: {**row, "familyName": "Wednesday"})
    shutil.copy(changed, drop / district / "wednesday.zip")
    [run_id] = (await service.parts.runner.pick_up_drop_folder()).started
    await service.parts.runner.wait_idle()
    assert (await service.run(str(run_id)))["counts"]["updated"] == 20


async def test_the_service_polls_the_drop_folder_by_itself(make_service, district, tmp_path):
    drop = tmp_path / "drop"
    (drop / district).mkdir(parents=True)
    generate_roster(drop / district / "export.zip", schools=1, students=5, parents=3, staff=2, seed=1)
    service = await make_service(drop_folder=drop, drop_settle_seconds=0, drop_poll_seconds=0.2)

    async def imported() -> bool:
        return len(await service.users(district)) == 10

    await wait_until(imported, timeout=30, message="the drop-folder import")
