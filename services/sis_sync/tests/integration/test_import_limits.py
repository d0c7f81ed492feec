"""Bounds on one import: blank lines cost nothing, a file over the row limit or a run over the
wall-clock limit fails changing nothing, and the district's next import runs."""
from __future__ import annotations

import pytest
from sis_sync_service.adapters.oneroster.generator import generate_roster


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("limits") / "roster.zip",
                           schools=2, students=20, parents=10, staff=5, seed=31)


@pytest.fixture(scope="module")
def big_roster(tmp_path_factory):
    """Far more than a second's work (a first import of it writes 55,000 users and their events)."""
    return generate_roster(tmp_path_factory.mktemp("limits") / "big.zip",
                           schools=20, students=30000, parents=20000, staff=5000, seed=32)


def with_blank_lines(service, roster, count: int) -> bytes:
    """The roster with `count` empty lines in the middle of users.csv (20 MB of them zip to ~20 kB)."""
    files = service.read_zip(roster)
    name = next(n for n in files if n.lower().endswith("users.csv"))
    lines = files[name].split(b"\r\n")
    files[name] = b"\r\n".join(lines[:10]) + b"\r\n" + b"\n" * count + b"\r\n".join(lines[10:])
    return service.zip_bytes(files)


async def test_a_zip_of_millions_of_blank_lines_imports_its_rows_and_counts_no_blank_line_as_a_row(
        make_service, district, roster, tmp_path):
    service = await make_service(max_zip_ratio=0)  # the ratio guard would refuse this zip (test_broken_exports)
    path = tmp_path / "blank.zip"
    path.write_bytes(with_blank_lines(service, roster, 20_000_000))
    started = await service.parts.pipeline.begin(district, source="cli", source_name=path.name)
    progress = []
    outcome = await service.parts.pipeline.execute(started, path, lambda *p: progress.append(p))
    assert outcome.status == "succeeded", outcome.failure
    assert outcome.counts.as_dict() == {"created": 35, "updated": 0, "unchanged": 0, "deactivated": 0, "rejected": 0}
    # The progress total counts lines with something on them (35 rows, one spanning two lines), not 20 million.
    assert progress[0] == ("reading", 0, 36)
    run = await service.run(str(started.run_id))
    assert run["progress"] == {"rows_done": 35, "rows_total": 35}


async def test_a_file_over_the_row_limit_fails_the_run_naming_it_and_changes_nothing(
        make_service, district, roster, tmp_path):
    service = await make_service(import_max_rows=30)
    small = generate_roster(tmp_path / "small.zip", schools=1, students=10, parents=5, staff=3, seed=31)
    await service.import_roster(district, small)
    before = await service.directory_snapshot()

    run = await service.import_roster(district, roster, expect="failed")  # 35 users
    assert run["failure"] == "users.csv: more than 30 rows, the most one import reads from a file"
    assert run["errors"][0]["message"] == run["failure"]
    assert await service.directory_snapshot() == before
    again = await service.import_roster(district, small)
    assert again["counts"]["unchanged"] == 18


async def test_a_run_over_the_wall_clock_limit_fails_as_timed_out_changes_nothing_and_the_next_import_runs(
        make_service, district, roster, big_roster):
    service = await make_service()
    hurried = await make_service(import_max_seconds=1)  # same database, another process's settings
    await service.import_roster(district, roster)
    before = await service.directory_snapshot()

    run = await hurried.import_roster(district, big_roster, expect="failed")
    assert run["failure"].startswith("timed out: the import ran longer than 1 s (SIS_SYNC_IMPORT_MAX_SECONDS)")
    assert run["failure"].endswith("nothing was changed")
    assert run["counts"] == {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0, "rejected": 0}
    assert await service.directory_snapshot() == before
    assert (await hurried.client.get("/healthz")).status_code == 200
    again = await service.import_roster(district, roster)  # the district's slot is free again
    assert again["counts"]["unchanged"] == 35
