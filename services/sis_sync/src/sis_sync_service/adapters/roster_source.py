"""Streaming a OneRoster export into staging records, around the streaming reader (adapters/oneroster).

Everything here is synchronous and CPU-bound; the pipeline calls it from a worker thread one batch
at a time, so a running import never blocks the service's event loop for long.
"""
from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
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
    # Refused org rows: in the export, so a bulk orgs.csv must not deactivate them (their users
    # keep them: they count as known, and as schools when the row said so).
    rejected_ids: list[str] = field(default_factory=list)


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

    def __init__(self, source: Path | bytes, *, max_uncompressed_bytes: int, max_entries: int, errors: ErrorLog,
                 max_rows: int = 0, max_ratio: float = 0, checkpoint: Callable[[], None] | None = None) -> None:
        self._source = source
        self._limits = {"max_uncompressed_bytes": max_uncompressed_bytes, "max_entries": max_entries,
                        "max_rows": max_rows, "max_ratio": max_ratio, "checkpoint": checkpoint}
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
    def warnings(self) -> list[str]:
        return [str(w) for w in getattr(self.roster, "warnings", None) or []]

    def estimate_user_rows(self) -> int:
        """users.csv's non-empty lines minus the header (at most the row limit + 1), for the progress
        total: an upper bound (a quoted newline counts twice); the run stores the exact count when it ends."""
        return self.roster.estimate_rows("users.csv")

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
        refused = getattr(self.roster, "refused_orgs", None) or {}
        school_ids = {s[0] for s in schools} | {i for i, kind in refused.items() if kind == "school"}
        return OrgsResult(schools, known | refused.keys(), school_ids, district_name, list(refused))

    def user_batches(self, orgs: OrgsResult, batch_size: int) -> Iterator[UserBatch]:
        """Staging rows in batches, already encoded as COPY CSV: the worker thread does all the
        Python work, the event loop only ships bytes while PostgreSQL parses them."""
        seen: set[str] = set()
        records: list[tuple] = []
        batch = UserBatch()
        for item in self.roster.users(orgs.known_org_ids):
            batch.rows_read += 1
            if isinstance(item, RowError):
                self.errors.add_row_error(item)
                sourced_id = getattr(item, "sourced_id", None)
                if sourced_id:
                    batch.rejected.append(sourced_id)
            elif (record := self._record(item, orgs.school_ids, seen)) is not None:
                records.append(record)
                if len(records) >= batch_size:
                    yield batch.encode(records)
                    records, batch = [], UserBatch(rows_read=batch.rows_read)
        yield batch.encode(records)

    def _record(self, user: UserRecord, school_ids: set[str], seen: set[str]) -> tuple | None:
        # Hot path (once per user). The reader rejects duplicates and blank required values itself;
        # the `seen` check only guards the staging table.
        sourced_id = user.sourced_id
        if sourced_id in seen:
            self.errors.add("users.csv", user.line, f"duplicate sourcedId {sourced_id} (first occurrence kept)")
            return None
        seen.add(sourced_id)
        orgs = user.org_sourced_ids or ()
        if len(orgs) == 1:
            schools = orgs if orgs[0] in school_ids else ()
        else:
            schools = sorted({o for o in orgs if o in school_ids})
        agents = user.agent_sourced_ids or ()
        if len(agents) > 1:
            agents = sorted(set(agents))
        return (
            sourced_id, user.role, user.given_name, user.family_name,
            user.email or NULL, user.phone or NULL, user.sms or NULL,
            _text_array(schools), _text_array(agents),
            "f" if user.status == DELETED else "t",
        )


@dataclass
class UserBatch:
    """`staged` users as COPY CSV; `rows_read` counts every data row so far (for progress)."""

    csv_bytes: bytes = b""
    staged: int = 0
    rejected: list[str] = field(default_factory=list)
    rows_read: int = 0

    def encode(self, records: list[tuple]) -> UserBatch:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(records)
        self.csv_bytes, self.staged = buffer.getvalue().encode(), len(records)
        return self


# COPY ... (FORMAT csv, NULL '\N'): an unquoted \N is NULL, everything else is a value.
NULL = "\\N"


def _text_array(items) -> str:
    """A PostgreSQL text[] literal with every element quoted (sourcedIds may hold { } : characters)."""
    if not items:
        return "{}"
    joined = '","'.join(items)
    if '"' in joined or "\\" in joined:
        joined = '","'.join(i.replace("\\", "\\\\").replace('"', '\\"') for i in items)
    return '{"' + joined + '"}'
