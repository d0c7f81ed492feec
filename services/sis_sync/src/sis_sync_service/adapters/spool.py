"""Uploaded rosters wait in spool files until their run ends."""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

SPOOL_PREFIX = "sis-upload-"


class SpoolUnwritable(Exception):
    """An upload could not be written to the spool directory (full disk, read-only file system,
    missing or unusable directory): the service's trouble, not the caller's, and no run is recorded."""

    reason = "upload_spool"
    retry_after = 10  # seconds: an operator must free or fix the directory

    def __init__(self) -> None:
        super().__init__("the upload spool cannot be written; retry shortly")


def spool_directory(directory: Path | None) -> Path:
    return directory or Path(tempfile.gettempdir())


def new_spool(directory: Path | None) -> tuple[int, Path]:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=".zip", dir=directory)
    return fd, Path(name)


def remove_stale_spools(directory: Path | None, max_age_seconds: float = 86_400) -> None:
    """Spool files of a process that crashed before its run ended."""
    folder = spool_directory(directory)
    cutoff = time.time() - max_age_seconds
    for path in folder.glob(f"{SPOOL_PREFIX}*.zip"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
