"""Streaming a OneRoster export into staging records, around helper-1's reader (adapters/oneroster).

Everything here is synchronous and CPU-bound; the pipeline calls it from a worker thread one batch
at a time, so a running import never blocks the service's event loop for long.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .oneroster import OrgRecord, RosterStructureError, RowError, UserRecord, open_roster

__all__ = ["ErrorLog", "OrgsResult", "RosterSource", "RosterStructureError"]

DELETED = "tobedeleted"


@dataclass
class ErrorLog:
    """Row errors of a run: the first `cap` kept for the run's `errors`, all of them counted."""

    cap: int
    items: list[dict] = field(default_factory=list)
    total: int = 0

    def add(self, file: str, line: int | None, message: str) -> None:
        self.total += 1
        if len(self.items) < self.cap:
            self.items.append({"file": file, "line": line, "message": message})

    def add_row_error(self, error: RowError) -> None:
        self.add(error.file, error.line, error.message)


@dataclass
class OrgsResult:
    schools: list[tuple[str, str, bool]]   # (id, name, active) of orgs of type school
    known_org_ids: set[str]
    school_ids: set[str]
    district_name: str | None


def _mode(file_modes: Any, name: str) -> str | None:
    if not file_modes:
        return None
    for key in (name, f"{name}.csv"):
        value = file_modes.get(key) if hasattr(file_modes, "get") else None
        if value:
            return str(value).lower()
    return None


class RosterSource:
    """One opened export. Use as a context manager; `orgs()` first, then `user_batches()`."""

    def __init__(self, source: Path | bytes, *, max_uncompressed_bytes: int, max_entries: int, errors: ErrorLog) -> None:
        self._source = source
        self._limits = {"max_uncompressed_bytes": max_uncompressed_bytes, "max_entries": max_entries}
        self._stack = contextlib.ExitStack()
        self.errors = errors
        self.roster = None

    def __enter__(self) -> RosterSource:
        self.roster = self._stack.enter_context(open_roster(self._source, **self._limits))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    @property
    def users_bulk(self) -> bool:
        """A bulk users.csv (the default) deactivates whoever it leaves out; a delta one does not."""
        return _mode(getattr(self.roster, "file_modes", None), "users") != "delta"

    @property
    def orgs_bulk(self) -> bool:
        return _mode(getattr(self.roster, "file_modes", None), "orgs") != "delta"

    @property
    def warnings(self) -> list:
        return list(getattr(self.roster, "warnings", None) or [])

    def count_user_rows(self) -> int:
        return self.roster.count_user_rows()

    def orgs(self) -> OrgsResult:
        schools: list[tuple[str, str, bool]] = []
        known: set[str] = set()
        district_name = None
        for item in self.roster.orgs():
            if isinstance(item, RowError):
                self.errors.add_row_error(item)
                continue
            org: OrgRecord = item
            known.add(org.sourced_id)
            kind = (org.type or "").lower()
            if kind == "school":
                schools.append((org.sourced_id, org.name or org.sourced_id, (org.status or "").lower() != DELETED))
            elif kind == "district" and district_name is None and org.name:
                district_name = org.name
        return OrgsResult(schools, known, {s[0] for s in schools}, district_name)

    def user_batches(self, orgs: OrgsResult, batch_size: int) -> Iterator[tuple[list[tuple], list[str], int]]:
        """Yields (staging records, sourcedIds of rejected rows when known, rows read so far)."""
        seen: set[str] = set()
        records: list[tuple] = []
        rejected: list[str] = []
        rows = 0
        for item in self.roster.users(orgs.known_org_ids):
            rows += 1
            if isinstance(item, RowError):
                self.errors.add_row_error(item)
                sourced_id = getattr(item, "sourced_id", None)
                if sourced_id:
                    rejected.append(sourced_id)
            else:
                record = self._record(item, orgs.school_ids, seen)
                if record is not None:
                    records.append(record)
            if len(records) >= batch_size:
                yield records, rejected, rows
                records, rejected = [], []
        yield records, rejected, rows

    def _record(self, user: UserRecord, school_ids: set[str], seen: set[str]) -> tuple | None:
        # The reader reports duplicates and missing values itself; these checks only guard the staging table.
        if user.sourced_id in seen:
            self.errors.add("users.csv", user.line, f"duplicate sourcedId {user.sourced_id!r} (first occurrence kept)")
            return None
        if not user.role or user.given_name is None or user.family_name is None:
            self.errors.add("users.csv", user.line, "missing a required value (role, givenName or familyName)")
            return None
        seen.add(user.sourced_id)
        return (
            user.sourced_id,
            user.role,
            user.given_name,
            user.family_name,
            user.email or None,
            user.phone or None,
            user.sms or None,
            sorted({o for o in (user.org_sourced_ids or ()) if o in school_ids}),
            sorted(set(user.agent_sourced_ids or ())),
            (user.status or "").lower() != DELETED,
        )
