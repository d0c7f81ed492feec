"""Stream a OneRoster CSV export (zip or folder) into records, tolerating what real exports do.

See ONEROSTER.md ("Quirks"): BOM, CRLF or LF, quoted fields with commas and newlines, columns in
any order with aliases and extension columns, role case, multi-valued fields with spaces, 1.2
`roles.csv`. Rows that cannot be used become `RowError(file, line, message)` and the rest goes on;
an export that cannot be read at all raises `RosterStructureError`. Messages name files, lines,
columns and sourcedIds, never personal values.
"""
from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

csv.field_size_limit(1 << 20)
SOURCED_ID = re.compile(r"^[0-9A-Za-z._\-/@{}:]{1,255}$")
KNOWN_ROLES = {"student", "teacher", "parent", "guardian", "relative", "administrator", "aide", "proctor", "staff"}
ROLE_ALIASES = {
    "districtadministrator": "administrator", "siteadministrator": "administrator",
    "systemadministrator": "administrator", "principal": "administrator", "counselor": "staff",
}
TRUE_WORDS = {"true", "1", "yes", "y", "t", ""}


class RosterStructureError(Exception):
    """The export as a whole cannot be used; nothing may be applied."""


@dataclass(frozen=True, slots=True)
class RowError:
    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class OrgRecord:
    sourced_id: str
    name: str
    type: str
    parent_sourced_id: str | None
    status: str | None
    line: int


@dataclass(frozen=True, slots=True)
class UserRecord:
    sourced_id: str
    line: int
    status: str | None
    enabled: bool
    role: str
    given_name: str
    family_name: str
    middle_name: str | None
    email: str | None
    phone: str | None
    sms: str | None
    org_sourced_ids: tuple[str, ...]
    agent_sourced_ids: tuple[str, ...]
    username: str | None
    identifier: str | None
    grades: tuple[str, ...]


def _norm(name: str) -> str:
    return re.sub(r"[\s_]", "", name.strip().lstrip("\ufeff")).lower()


# Per file: normalised header -> canonical column. Unknown columns are ignored with a warning.
COLUMNS = {
    "orgs.csv": {
        "sourcedid": "sourcedid", "sourceid": "sourcedid", "status": "status", "datelastmodified": "datelastmodified",
        "datalastmodified": "datelastmodified", "name": "name", "type": "type", "identifier": "identifier",
        "parentsourcedid": "parentsourcedid", "parent": "parentsourcedid",
    },
    "users.csv": {
        "sourcedid": "sourcedid", "sourceid": "sourcedid", "status": "status",
        "datelastmodified": "datelastmodified", "datalastmodified": "datelastmodified",
        "enableduser": "enableduser", "orgsourcedids": "orgsourcedids", "orgsourcedid": "orgsourcedids",
        "role": "role", "username": "username", "userids": "userids", "userid": "userids",
        "givenname": "givenname", "familyname": "familyname", "middlename": "middlename",
        "identifier": "identifier", "email": "email", "sms": "sms", "phone": "phone",
        "agentsourcedids": "agentsourcedids", "agents": "agentsourcedids", "grades": "grades",
        "password": "password", "usermasteridentifier": "usermasteridentifier",
        "preferredgivenname": "preferredgivenname", "prefferedgivenname": "preferredgivenname",
        "preferredmiddlename": "preferredmiddlename", "preferredfamilyname": "preferredfamilyname",
        "primaryorgsourcedid": "primaryorgsourcedid", "pronouns": "pronouns",
        "resourcesourcedids": "resourcesourcedids",
    },
    "roles.csv": {
        "sourcedid": "sourcedid", "status": "status", "datelastmodified": "datelastmodified",
        "usersourcedid": "usersourcedid", "roletype": "roletype", "role": "role", "begindate": "begindate",
        "enddate": "enddate", "orgsourcedid": "orgsourcedid", "userprofilesourcedid": "userprofilesourcedid",
    },
}
REQUIRED = {"orgs.csv": ("sourcedid", "name", "type"), "users.csv": ("sourcedid", "givenname", "familyname"),
            "roles.csv": ("usersourcedid", "role", "orgsourcedid")}


def split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    if "," not in value:
        value = value.strip()
        return (value,) if value else ()
    return tuple(item for item in (part.strip() for part in value.split(",")) if item)


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


class _Limited(io.RawIOBase):
    """Counts what a zip member really decompresses to, whatever its header claims."""

    def __init__(self, raw: BinaryIO, budget: list[int], name: str) -> None:
        self.raw, self.budget, self.name = raw, budget, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.budget[0] -= len(data)
        if self.budget[0] < 0:
            raise RosterStructureError(f"{self.name}: the export decompresses to more than the allowed size")
        buffer[: len(data)] = data
        return len(data)


@dataclass
class Roster:
    version: str = "1.0"
    file_modes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _zip: zipfile.ZipFile | None = None
    _folder: Path | None = None
    _members: dict[str, str] = field(default_factory=dict)   # lower-case file name -> member/path
    _budget: list[int] = field(default_factory=lambda: [0])
    _warned: set[str] = field(default_factory=set)
    _columns: dict[str, dict[str, int]] = field(default_factory=dict)

    # --- files ---------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self._members

    @contextmanager
    def _text(self, name: str) -> Iterator[io.TextIOBase]:
        member = self._members[name]
        if self._zip is not None:
            with self._zip.open(member) as raw:
                # A fresh budget per read: the same member is read more than once (count, import).
                buffered = io.BufferedReader(_Limited(raw, [self._budget[0]], name), 1 << 16)
                yield io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="", errors="strict")
        else:
            with open(member, encoding="utf-8-sig", newline="") as f:
                yield f

    def _rows(self, name: str, as_dict: bool = True) -> Iterator[tuple[int, dict[str, str] | list[str]]]:
        """(line where the row starts, the row) for every non-blank data row; as a dict of
        canonical column -> value, or the raw list (columns in `self._columns[name]`)."""
        try:
            with self._text(name) as text:
                reader = csv.reader(text)
                header = next(reader, None)
                if not header or not any(h.strip() for h in header):
                    raise RosterStructureError(f"{name}: the file is empty or has no header row")
                columns = self._columns[name] = self._map_header(name, header)
                previous_end = reader.line_num
                for row in reader:
                    start, previous_end = previous_end + 1, reader.line_num
                    if not any(row) or not any(cell.strip() for cell in row):
                        continue
                    if as_dict:
                        yield start, {canonical: row[i] if i < len(row) else "" for canonical, i in columns.items()}
                    else:
                        yield start, row
        except UnicodeDecodeError:
            raise RosterStructureError(f"{name}: not UTF-8 text") from None
        except csv.Error as exc:
            raise RosterStructureError(f"{name}: not a readable CSV file ({exc})") from None
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise RosterStructureError(f"{name}: the zip entry is corrupt ({type(exc).__name__})") from None

    def _map_header(self, name: str, header: list[str]) -> dict[str, int]:
        known = COLUMNS[name]
        columns: dict[str, int] = {}
        ignored = []
        for i, raw in enumerate(header):
            key = _norm(raw)
            if not key:
                continue
            canonical = known.get(key)
            if canonical is None:
                if not (key.startswith("metadata.") or key.startswith("ext")):
                    ignored.append(raw.strip())
                continue
            columns.setdefault(canonical, i)
        if ignored:
            self.warnings.append(f"{name}: ignored unknown columns {', '.join(ignored)}")
        required = list(REQUIRED[name])
        if name == "users.csv" and not self.has("roles.csv"):
            required += ["role", "orgsourcedids"]
        missing = [c for c in required if c not in columns]
        if missing:
            raise RosterStructureError(f"{name}: wrong header: missing required column(s) {', '.join(missing)}")
        return columns

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)

    # --- records -------------------------------------------------------------------------
    def orgs(self) -> Iterator[OrgRecord | RowError]:
        rows: list[OrgRecord] = []
        seen: dict[str, int] = {}
        for line, row in self._rows("orgs.csv"):
            sourced_id = row["sourcedid"].strip()
            problem = _check_id(sourced_id, seen, line)
            if problem is None and not row["name"].strip():
                problem = "missing required value: name"
            if problem is None and not row["type"].strip():
                problem = "missing required value: type"
            if problem:
                yield RowError("orgs.csv", line, problem)
                continue
            seen[sourced_id] = line
            rows.append(OrgRecord(sourced_id, row["name"].strip(), row["type"].strip().lower(),
                                  _blank(row.get("parentsourcedid")), _blank(row.get("status")) and row["status"].strip().lower(), line))
        for org in rows:
            if org.parent_sourced_id and org.parent_sourced_id not in seen:
                self.warnings.append(f"orgs.csv line {org.line}: parent org {org.parent_sourced_id} not in the export; ignored")
                org = OrgRecord(org.sourced_id, org.name, org.type, None, org.status, org.line)
            yield org

    def _roles(self) -> dict[str, tuple[str, list[str]]]:
        """1.2: user sourcedId -> (primary role, orgs in order, primary first)."""
        out: dict[str, tuple[str, list[str], bool]] = {}
        for _line, row in self._rows("roles.csv"):
            user, org = row["usersourcedid"].strip(), row["orgsourcedid"].strip()
            if not user:
                continue
            primary = row.get("roletype", "").strip().lower() == "primary"
            role = row["role"].strip()
            current = out.get(user)
            if current is None:
                out[user] = (role, [org] if org else [], primary)
                continue
            orgs = current[1]
            if org and org not in orgs:
                if primary:
                    orgs.insert(0, org)
                else:
                    orgs.append(org)
            if primary and not current[2]:
                out[user] = (role, orgs, True)
        return {user: (role, orgs) for user, (role, orgs, _) in out.items()}

    def _role(self, raw: str, line: int) -> str:
        key = _norm(raw)
        if key.startswith("ext:"):
            key = key[4:]
        if key in KNOWN_ROLES:
            return key
        if key in ROLE_ALIASES:
            return ROLE_ALIASES[key]
        self._warn_once(f"role:{key}", f"users.csv line {line}: unknown role {raw.strip()!r} mapped to staff")
        return "staff"

    def users(self, known_org_ids: Collection[str]) -> Iterator[UserRecord | RowError]:
        roles = self._roles() if self.has("roles.csv") else None
        seen: dict[str, int] = {}
        role_cache: dict[str, str] = {}
        rows = self._rows("users.csv", as_dict=False)
        # The hot loop of a 100k-user import: plain list indexing into a padded row, no per-row dicts.
        first = next(rows, None)
        if first is None:
            return
        columns = self._columns["users.csv"]
        width = max(columns.values()) + 2
        blank = width  # index of an always-empty cell appended to every row
        (i_id, i_role, i_orgs, i_primary, i_given, i_family, i_middle, i_email, i_phone, i_sms, i_agents,
         i_user, i_ident, i_grades, i_status, i_enabled) = (
            columns.get(c, blank) for c in (
                "sourcedid", "role", "orgsourcedids", "primaryorgsourcedid", "givenname", "familyname",
                "middlename", "email", "phone", "sms", "agentsourcedids", "username", "identifier", "grades",
                "status", "enableduser"))
        pad = [""] * (width + 1)
        for line, row in itertools.chain((first,), rows):
            if len(row) <= width:
                row = row + pad[len(row):]
            sourced_id = row[i_id].strip()
            problem = _check_id(sourced_id, seen, line)
            if problem:
                yield RowError("users.csv", line, problem)
                continue
            role_text, orgs = row[i_role].strip(), list(split_list(row[i_orgs]))
            if roles is not None and (not role_text or not orgs):
                from_roles = roles.get(sourced_id)
                if from_roles:
                    role_text = role_text or from_roles[0].strip()
                    orgs = orgs or list(from_roles[1])
            primary = row[i_primary].strip()
            if primary:
                orgs = [primary] + [o for o in orgs if o != primary]
            given, family = row[i_given].strip(), row[i_family].strip()
            if not given or not family or not role_text:
                missing = [label for label, value in (("givenName", given), ("familyName", family),
                                                      ("role", role_text)) if not value]
                yield RowError("users.csv", line, f"missing required value: {', '.join(missing)}")
                continue
            if not orgs:
                yield RowError("users.csv", line, "missing required value: orgSourcedIds")
                continue
            unknown = [o for o in orgs if o not in known_org_ids]
            if unknown:
                if len(unknown) == len(orgs):
                    yield RowError("users.csv", line, f"references unknown org {unknown[0]}")
                    continue
                self.warnings.append(f"users.csv line {line}: unknown org(s) {', '.join(unknown)} ignored")
                orgs = [o for o in orgs if o not in unknown]
            seen[sourced_id] = line
            role = role_cache.get(role_text)
            if role is None:
                role = role_cache[role_text] = self._role(role_text, line)
            yield UserRecord(
                sourced_id, line, row[i_status].strip().lower() or None,
                row[i_enabled].strip().lower() in TRUE_WORDS, role, given, family, row[i_middle].strip() or None,
                row[i_email].strip() or None, row[i_phone].strip() or None, row[i_sms].strip() or None,
                tuple(orgs), split_list(row[i_agents]), row[i_user].strip() or None,
                row[i_ident].strip() or None, split_list(row[i_grades]),
            )

    def count_user_rows(self) -> int:
        return sum(1 for _ in self._rows("users.csv", as_dict=False))


def _check_id(sourced_id: str, seen: dict[str, int], line: int) -> str | None:
    if not sourced_id:
        return "missing required value: sourcedId"
    if not SOURCED_ID.match(sourced_id):
        return f"invalid sourcedId {sourced_id[:40]!r}"
    if sourced_id in seen:
        return f"duplicate sourcedId {sourced_id} (first seen on line {seen[sourced_id]})"
    return None


def _index(names: list[str], where: str) -> dict[str, str]:
    """Lower-case file name -> member, for CSVs at the root or inside one top-level folder."""
    root = {PurePosixPath(n).name.lower(): n for n in names if "/" not in n.strip("/") and n.lower().endswith(".csv")}
    if root:
        return root
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1:
        top = tops.pop()
        return {PurePosixPath(n).name.lower(): n for n in names
                if n.startswith(top + "/") and n.count("/") == 1 and n.lower().endswith(".csv")}
    raise RosterStructureError(f"{where}: no CSV files at the root of the export")


def _check_zip(zf: zipfile.ZipFile, max_uncompressed_bytes: int, max_entries: int) -> None:
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise RosterStructureError(f"the zip has {len(infos)} entries (at most {max_entries} allowed)")
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
            raise RosterStructureError(f"unsafe path in the zip: {info.filename!r}")
        total += info.file_size
    if total > max_uncompressed_bytes:
        raise RosterStructureError(
            f"the zip would decompress to {total} bytes (at most {max_uncompressed_bytes} allowed)")


def _finish(roster: Roster) -> Roster:
    for required in ("users.csv", "orgs.csv"):
        if not roster.has(required):
            raise RosterStructureError(f"{required} is missing from the export")
    if roster.has("manifest.csv"):
        try:
            with roster._text("manifest.csv") as text:
                for row in csv.reader(text):
                    if len(row) < 2:
                        continue
                    key, value = row[0].strip().lower().lstrip("\ufeff"), row[1].strip().lower()
                    if key == "oneroster.version":
                        roster.version = value if "." in value else f"{value}.0"
                    elif key.startswith("file."):
                        roster.file_modes[key[5:] + ".csv"] = value or "absent"
        except (UnicodeDecodeError, csv.Error):
            raise RosterStructureError("manifest.csv: not a readable CSV file") from None
    else:
        roster.warnings.append("no manifest.csv: read as OneRoster 1.0")
    for name in ("users.csv", "orgs.csv"):
        roster.file_modes.setdefault(name, "bulk")
        if roster.file_modes[name] == "absent":
            roster.warnings.append(f"manifest says {name} is absent but the file is present: reading it as bulk")
            roster.file_modes[name] = "bulk"
    return roster


@contextmanager
def open_roster(path: str | Path | bytes | BinaryIO, *, max_uncompressed_bytes: int = 1_000_000_000,
                max_entries: int = 64) -> Iterator[Roster]:
    if isinstance(path, (str, Path)) and Path(path).is_dir():
        folder = Path(path)
        members = {p.name.lower(): str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv"}
        yield _finish(Roster(_folder=folder, _members=members))
        return
    source = io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise RosterStructureError("not a zip archive (or a folder) of OneRoster CSV files") from None
    with zf:
        _check_zip(zf, max_uncompressed_bytes, max_entries)
        roster = Roster(_zip=zf, _members=_index(zf.namelist(), "zip"), _budget=[max_uncompressed_bytes])
        yield _finish(roster)
