"""An upload the spool directory cannot take (missing or unusable directory, full disk, read-only file
system) answers 503 naming the spool, logs it without anything of the upload, records no run, and
the service keeps serving. Real failures, also as root (where permission bits stop nothing): a spool
directory under a regular file, and a file size limit the kernel enforces in the middle of a write."""
from __future__ import annotations

import contextlib
import resource
import signal

import pytest
from sis_sync_service.adapters.oneroster.generator import generate_roster

CLIENT_FILE_NAME = "Zebediah Quux roster.zip"  # what a client may call its file: never logged


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    return generate_roster(tmp_path_factory.mktemp("spool") / "roster.zip",
                           schools=1, students=3, parents=2, staff=1, seed=9)


async def runs_of(service, district: str) -> list:
    conn = await service.db()
    try:
        return await conn.fetch("SELECT id FROM sis_import_run WHERE district_id = $1", district)
    finally:
        await conn.close()


def assert_spool_refusal(r) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "10"
    assert r.json() == {"error": {"code": "unavailable", "reason": "upload_spool",
                                  "message": "the upload spool cannot be written; retry shortly"}}


@pytest.mark.parametrize("body", ["multipart", "zip"])
async def test_an_upload_directory_that_cannot_be_created_answers_503_and_records_no_run(
        make_service, district, roster, tmp_path, capsys, body):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file where the spool directory's parent should be")
    service = await make_service(upload_dir=blocker / "uploads")
    capsys.readouterr()

    if body == "multipart":
        r = await service.client.post(f"/api/v1/districts/{district}/sis-imports", headers=service.system,
                                      files={"file": (CLIENT_FILE_NAME, roster.read_bytes(), "application/zip")})
    else:
        r = await service.client.post(f"/api/v1/districts/{district}/sis-imports", content=roster.read_bytes(),
                                      headers={**service.system, "content-type": "application/zip"})
    assert_spool_refusal(r)
    assert await runs_of(service, district) == []
    logged = "".join(capsys.readouterr())
    [line] = [line for line in logged.splitlines() if "sis_upload_spool_unwritable" in line]
    assert "NotADirectoryError" in line and "ENOTDIR" in line and str(blocker / "uploads") in line
    assert "Zebediah" not in logged and "sis-upload-" not in logged

    assert (await service.client.get("/healthz")).status_code == 200
    service.settings.upload_dir = tmp_path / "uploads"  # the operator fixes the directory: no restart
    run = await service.import_roster(district, roster)
    assert run["counts"]["created"] == 6


@contextlib.contextmanager
def file_size_limit(max_bytes: int):
    """Writes past `max_bytes` into any file of this process fail with EFBIG, as on a full disk the
    write fails part way (SIGXFSZ, which would kill the process, is ignored meanwhile)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


async def test_an_upload_whose_spool_write_fails_part_way_answers_503_and_leaves_no_file(
        make_service, district, roster, tmp_path, capsys):
    uploads = tmp_path / "uploads"
    service = await make_service(upload_dir=uploads)
    body = roster.read_bytes() + b"\0" * (2 * 1024 * 1024)  # the write crosses the limit
    capsys.readouterr()

    with file_size_limit(1024 * 1024):
        r = await service.client.post(f"/api/v1/districts/{district}/sis-imports", content=body,
                                      headers={**service.system, "content-type": "application/zip"})
    assert_spool_refusal(r)
    assert list(uploads.iterdir()) == []  # the part written is removed
    assert await runs_of(service, district) == []
    [line] = [line for line in "".join(capsys.readouterr()).splitlines() if "sis_upload_spool_unwritable" in line]
    assert "EFBIG" in line

    run = await service.import_roster(district, roster)
    assert run["counts"]["created"] == 6
