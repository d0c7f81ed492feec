"""The drop folder: `<drop_folder>/<district_id>/*.zip`, scanned for each district's newest export."""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

DISTRICT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class DroppedExport:
    district_id: str
    path: Path
    fingerprint: str   # name + modification time + size: a re-uploaded file with the same name counts as new


def newest_exports(folder: Path, settle_seconds: float, now: float | None = None) -> list[DroppedExport]:
    """The newest settled zip of every district folder (files still being written are skipped)."""
    now = time.time() if now is None else now
    found: list[DroppedExport] = []
    if not folder.is_dir():
        return found
    for district_dir in sorted(p for p in folder.iterdir() if p.is_dir() and DISTRICT_ID.match(p.name)):
        candidates = []
        for path in district_dir.iterdir():
            if path.is_file() and path.suffix.lower() == ".zip":
                stat = path.stat()
                if now - stat.st_mtime >= settle_seconds:
                    candidates.append((stat.st_mtime_ns, path.name, path, stat.st_size))
        if not candidates:
            continue
        mtime_ns, name, path, size = max(candidates)
        digest = hashlib.sha256(f"{name}\0{mtime_ns}\0{size}".encode()).hexdigest()
        found.append(DroppedExport(district_dir.name, path, digest))
    return found
