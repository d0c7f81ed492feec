"""Uploaded rosters wait in spool files until their run ends."""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

SPOOL_PREFIX = "sis-upload-"


def new_spool(directory: Path | None) -> tuple[int, Path]:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=".zip", dir=directory)
    return fd, Path(name)


def remove_stale_spools(directory: Path | None, max_age_seconds: float = 86_400) -> None:
    """Spool files of a process that crashed before its run ended."""
    folder = directory or Path(tempfile.gettempdir())
    cutoff = time.time() - max_age_seconds
    for path in folder.glob(f"{SPOOL_PREFIX}*.zip"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
