"""A structurally broken export fails its run with a clear error, changes nothing, and the service
keeps serving (the next good import succeeds)."""
from __future__ import annotations


import pytest
from sis_sync_service.adapters.oneroster.generator import generate_roster


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("broken") / "roster.zip",
                           schools=2, students=20, parents=10, staff=5, seed=21)


def _users_name(files: dict) -> str:
    return next(n for n in files if n.lower().endswith("users.csv"))


def not_a_zip(harness, files) -> bytes:
    return b"sourcedId,status\nthis is a CSV file, not a zip archive\n" * 10


def dot_dot_entry(harness, files) -> bytes:
    return harness.zip_bytes({**files, "../evil.csv": b"x"})


def zip_bomb(harness, files) -> bytes:
    # ~64 MB of zeros compress to ~64 KB; the test service caps uncompressed size at 16 MB.
    return harness.zip_bytes({**files, "padding.csv": b"\0" * (64 * 1024 * 1024)})


def blank_line_bomb(harness, files) -> bytes:
    # 12 MB of empty lines (under the 16 MB cap) zip to ~12 KB: a ratio no real export comes near.
    return harness.zip_bytes({**files, _users_name(files): files[_users_name(files)] + b"\n" * (12 * 1024 * 1024)})


def too_many_entries(harness, files) -> bytes:
    return harness.zip_bytes({**files, **{f"extra/{i}.txt": b"x" for i in range(300)}})


def missing_users_csv(harness, files) -> bytes:
    return harness.zip_bytes({n: c for n, c in files.items() if n != _users_name(files)})


def wrong_users_header(harness, files) -> bytes:
    body = files[_users_name(files)].decode("utf-8-sig").split("\n", 1)[1]
    return harness.zip_bytes({**files, _users_name(files): "id;first;last;mail\n" + body})


def truncated_zip(harness, files) -> bytes:
    return harness.zip_bytes(files)[:-200]


CASES = {
    "not a zip": (not_a_zip, "zip"),
    "a '..' entry": (dot_dot_entry, ".."),
    "a zip bomb": (zip_bomb, "decompress"),
    "a zip of blank lines": (blank_line_bomb, "decompression bomb"),
    "too many entries": (too_many_entries, "entries"),
    "no users.csv": (missing_users_csv, "users.csv"),
    "a wrong users.csv header": (wrong_users_header, "users.csv"),
    "a truncated zip": (truncated_zip, "zip"),
}


@pytest.fixture
async def capped_service(make_service):
    return await make_service(max_uncompressed_bytes=16 * 1024 * 1024, max_zip_entries=100)


async def test_every_broken_export_fails_clearly_changes_nothing_and_the_service_keeps_serving(
        capped_service, district, roster):
    service = capped_service
    await service.import_roster(district, roster)
    before = await service.directory_snapshot()
    files = service.read_zip(roster)
    for label, (make, hint) in CASES.items():
        run = await service.import_roster(district, make(service, files), expect="failed")
        assert hint.lower() in run["failure"].lower(), (label, run["failure"])
        assert run["errors"] and run["errors"][0]["message"] == run["failure"], label
        assert run["counts"] == {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0, "rejected": 0}
        assert await service.directory_snapshot() == before, label
        assert (await service.client.get("/healthz")).status_code == 200
    again = await service.import_roster(district, roster)
    assert again["counts"]["unchanged"] == 35


async def test_a_broken_first_import_still_leaves_an_empty_directory(service, district):
    run = await service.import_roster(district, b"\x00" * 100, expect="failed")
    assert run["status"] == "failed"
    assert await service.users(district) == []
