"""Each process works on at most SIS_SYNC_MAX_CONCURRENT_IMPORTS runs: a drop-folder pass leaves the
rest for a later pass (of this replica or another), an upload gets 503 with Retry-After, and replicas
sharing the folder and the database never start one export twice."""
from __future__ import annotations

import asyncio

import pytest
from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster
from sis_sync_service.adapters.run_store import ImportRuns
from sis_sync_service.service_layer import imports


class Gate:
    """While closed, every run of every service of the test waits before its work: recorded
    (`queued`), holding its place and its connection, as a long import would."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.opened.set()

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.opened.clear()


@pytest.fixture
def held(monkeypatch, make_service) -> Gate:
    """Depends on make_service so that it is torn down first: the gate opens, the runs end, and the
    services stop."""
    gate = Gate()
    execute = imports.ImportPipeline.execute

    async def execute_when_open(self, run, source, progress=None):
        await gate.opened.wait()
        return await execute(self, run, source, progress)

    monkeypatch.setattr(imports.ImportPipeline, "execute", execute_when_open)
    yield gate
    gate.open()


@pytest.fixture
def drop(tmp_path, district):
    """A drop folder with one small export for each of five districts (named after this test's)."""
    folder = tmp_path / "drop"
    roster = generate_roster(tmp_path / "roster.zip", schools=1, students=3, parents=2, staff=1, seed=7)
    for n in range(5):
        (folder / f"{district}-{n}").mkdir(parents=True)
        (folder / f"{district}-{n}" / "export.zip").write_bytes(roster.read_bytes())
    return folder


async def replica(make_service, drop, **overrides):
    """A service on the module's database whose drop-folder loop does not run: the test plays its
    passes (`runner.pick_up_drop_folder`) itself."""
    service = await make_service(drop_settle_seconds=0, **overrides)
    service.settings.drop_folder = drop
    return service


async def runs_of(service, district: str) -> list[dict]:
    """Every run of this test's districts: (district, status, source)."""
    conn = await service.db()
    try:
        rows = await conn.fetch("SELECT district_id, status, source FROM sis_import_run WHERE district_id LIKE $1 "
                                "ORDER BY district_id", f"{district}-%")
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def test_a_drop_folder_pass_starts_runs_only_while_the_process_has_room_and_leaves_the_rest(
        make_service, held, drop, district):
    service = await replica(make_service, drop, max_concurrent_imports=2)
    runner = service.parts.runner
    held.close()

    first = await runner.pick_up_drop_folder()
    assert (len(first.started), first.left) == (2, 3)
    assert [r["status"] for r in await runs_of(service, district)] == ["queued", "queued"]
    again = await runner.pick_up_drop_folder()  # still full: nothing more, nothing twice
    assert (again.started, again.left) == ([], 3)
    assert await runner.pick_up_drop_folder() == again

    held.open()
    await runner.wait_idle()
    second = await runner.pick_up_drop_folder()
    assert (len(second.started), second.left) == (2, 1)
    await runner.wait_idle()
    third = await runner.pick_up_drop_folder()
    assert (len(third.started), third.left) == (1, 0)
    await runner.wait_idle()
    runs = await runs_of(service, district)
    assert [r["district_id"] for r in runs] == [f"{district}-{n}" for n in range(5)]  # one run each
    assert {(r["status"], r["source"]) for r in runs} == {("succeeded", "drop_folder")}


async def test_after_a_pass_stopped_at_the_cap_a_freed_slot_is_refilled_without_waiting_for_the_poll(
        make_service, held, drop, district):
    held.close()
    service = await make_service(drop_folder=drop, drop_settle_seconds=0, drop_poll_seconds=600,
                                 max_concurrent_imports=2)  # its first pass runs at start

    async def queued() -> int:
        return len(await runs_of(service, district))

    await wait_until(queued, message="the first pass")
    await asyncio.sleep(0.5)
    assert await queued() == 2

    held.open()  # the two runs end; the next pass comes then, not 600 s later

    async def all_imported() -> bool:
        runs = await runs_of(service, district)
        return len(runs) == 5 and all(r["status"] == "succeeded" for r in runs)

    await wait_until(all_imported, timeout=30, message="the three other exports, as slots free up")


async def test_replicas_sharing_the_folder_split_the_exports_and_none_is_started_twice(
        make_service, held, drop, district):
    a = await replica(make_service, drop, max_concurrent_imports=2)
    b = await replica(make_service, drop, max_concurrent_imports=2)
    held.close()

    from_a = await a.parts.runner.pick_up_drop_folder()
    from_b = await b.parts.runner.pick_up_drop_folder()  # the exports A took are not A's to lose
    assert (len(from_a.started), from_a.left) == (2, 3)
    assert (len(from_b.started), from_b.left) == (2, 1)
    assert (await a.parts.runner.pick_up_drop_folder()).left == 1  # A is full, the last export waits
    assert len(await runs_of(a, district)) == 4

    held.open()
    await asyncio.gather(a.parts.runner.wait_idle(), b.parts.runner.wait_idle())
    last = await asyncio.gather(a.parts.runner.pick_up_drop_folder(), b.parts.runner.pick_up_drop_folder())
    assert sorted(len(p.started) for p in last) == [0, 1]
    await asyncio.gather(a.parts.runner.wait_idle(), b.parts.runner.wait_idle())
    runs = await runs_of(a, district)
    assert [r["district_id"] for r in runs] == [f"{district}-{n}" for n in range(5)]
    assert {(r["status"], r["source"]) for r in runs} == {("succeeded", "drop_folder")}


async def test_a_replica_whose_look_at_the_pickups_is_stale_does_not_start_an_export_again(
        make_service, drop, district, monkeypatch):
    """Replicas look at `drop_pickup` before starting a run; another replica may start (and even
    finish) that export between the look and the start. The start itself must refuse it."""
    a = await replica(make_service, drop, max_concurrent_imports=5)
    b = await replica(make_service, drop, max_concurrent_imports=5)
    done = await a.parts.runner.pick_up_drop_folder()
    assert len(done.started) == 5
    await a.parts.runner.wait_idle()  # finished: every district's run slot is free again

    async def nothing_picked_up(self, exports):
        return set()

    monkeypatch.setattr(ImportRuns, "picked_up", nothing_picked_up)  # every look is stale from here on
    assert (await b.parts.runner.pick_up_drop_folder()).started == []
    assert len(await runs_of(a, district)) == 5  # no second run, not even a failed one

    for n in range(5):  # new exports, and both replicas' passes at once
        (drop / f"{district}-{n}" / "export.zip").rename(drop / f"{district}-{n}" / "newer.zip")
    passes = await asyncio.gather(a.parts.runner.pick_up_drop_folder(), b.parts.runner.pick_up_drop_folder())
    assert sum(len(p.started) for p in passes) == 5
    await asyncio.gather(a.parts.runner.wait_idle(), b.parts.runner.wait_idle())
    runs = await runs_of(a, district)
    assert len(runs) == 10 and {r["status"] for r in runs} == {"succeeded"}


async def test_an_upload_to_an_instance_at_its_cap_gets_503_with_retry_after_and_another_instance_takes_it(
        make_service, held, district, tmp_path):
    roster = generate_roster(tmp_path / "roster.zip", schools=1, students=3, parents=2, staff=1, seed=8)
    full = await make_service(max_concurrent_imports=1, upload_dir=tmp_path / "full")
    other = await make_service(max_concurrent_imports=1, upload_dir=tmp_path / "other")
    held.close()
    r = await full.start_import(f"{district}-0", roster)
    assert r.status_code == 202, r.text

    r = await full.start_import(f"{district}-1", roster)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "unavailable" and r.json()["error"]["reason"] == "import_capacity"
    assert "SIS_SYNC_MAX_CONCURRENT_IMPORTS" in r.json()["error"]["message"]
    assert [r["district_id"] for r in await runs_of(full, district)] == [f"{district}-0"]  # nothing recorded
    assert len(list((tmp_path / "full").iterdir())) == 1  # the held run's upload; the refused one is not kept
    r = await full.client.get(f"/api/v1/districts/{district}-1/sis-imports", headers=full.system)
    assert r.json()["items"] == []

    r = await other.start_import(f"{district}-1", roster)  # what a load balancer's retry does
    assert r.status_code == 202, r.text

    held.open()
    await full.parts.runner.wait_idle()
    run = await full.import_roster(f"{district}-2", roster)  # room again
    assert run["counts"]["created"] == 6


async def test_an_upload_still_being_received_holds_its_place(make_service, district, tmp_path):
    """The place is taken before the upload is read: no more uploads than runs wait on disk, and
    one refused costs no spooling."""
    roster = generate_roster(tmp_path / "roster.zip", schools=1, students=3, parents=2, staff=1, seed=8)
    service = await make_service(max_concurrent_imports=1, upload_dir=tmp_path / "uploads")
    half = len(roster.read_bytes()) // 2
    rest = asyncio.Event()

    async def slow_body():
        yield roster.read_bytes()[:half]
        await rest.wait()
        yield roster.read_bytes()[half:]

    slow = asyncio.create_task(service.client.post(
        f"/api/v1/districts/{district}-0/sis-imports", content=slow_body(),
        headers={**service.system, "content-type": "application/zip"}))
    await wait_until(lambda: any((tmp_path / "uploads").glob("*.zip")), message="the first half on disk")

    r = await service.start_import(f"{district}-1", roster)
    assert r.status_code == 503 and r.json()["error"]["reason"] == "import_capacity", r.text
    assert len(list((tmp_path / "uploads").iterdir())) == 1

    rest.set()
    r = await slow
    assert r.status_code == 202, r.text
    await service.parts.runner.wait_idle()
    assert (await service.run(r.json()["id"]))["status"] == "succeeded"
