"""Stream a OneRoster CSV export (zip or folder) into records, tolerating what real exports do.

What it reads and refuses is described in docs/oneroster-import.md: BOM, CRLF or LF, quoted fields
with commas and newlines, columns in any order with aliases and extension columns, role case,
multi-valued fields with spaces, 1.2 `roles.csv`. Rows that cannot be used become
`RowError(file, line, message)` and the rest goes on; an export that cannot be read at all raises
`RosterStructureError`. Messages and warnings name files, lines, columns and sourcedIds, never
personal values (names, emails, phones).

Layout: the CSVs sit at the root of the zip (or folder), or all inside one top-level folder (what
"compress this folder" produces); `__MACOSX/` and dot files are ignored. Nothing is loaded whole:
rows are parsed while the zip member decompresses; only sets/dicts of sourcedIds are kept.

Hostile exports are bounded: blank lines are skipped a run at a time (a file of a billion newlines
costs one decompression pass), each file may hold at most `max_rows` rows, a member that inflates
more than `max_ratio` times is refused, and `checkpoint` (called between chunks) lets the caller
stop a parse running in a worker thread. Values that would enter the directory may not hold control
or bidirectional-override characters: such a row is refused, naming the column, never the value.
"""
from __future__ import annotations

import csv
import io
import operator
import re
import zipfile
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ...domain.text import (EMAIL_MAX, NAME_MAX, PHONE_MAX, SCHOOL_IDS_MAX, SOURCED_ID_MAX, has_unsafe_characters,
                            refusal)

csv.field_size_limit(1 << 20)
MAX_LINE_CHARS = 1 << 20       # no real CSV line comes near; without a cap one endless line fills memory
CHUNK_CHARS = 1 << 18
RATIO_FLOOR_BYTES = 1 << 20    # smaller members cannot hurt whatever their compression ratio
_BLANK_LINES = re.compile(r"[\r\n]+")               # at a line start: a run of empty lines
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")
_CONTENT_LINE_END = re.compile(rb"[^\r\n][\r\n]")   # ends of lines that are not empty
SOURCED_ID = re.compile(r"^[0-9A-Za-z._\-/@{}:]{1,255}$")
KNOWN_ROLES = {"student", "teacher", "parent", "guardian", "relative", "administrator", "aide", "proctor", "staff"}
ROLE_ALIASES = {  # 1.2 roles.csv (and some 1.1 exports) use finer roles than the directory needs
    "districtadministrator": "administrator", "siteadministrator": "administrator",
    "systemadministrator": "administrator", "principal": "administrator", "counselor": "staff",
}
TRUE_WORDS = {"true", "1", "yes", "y", "t", "on", ""}   # blank enabledUser means enabled
MODES = {"bulk", "delta", "absent"}
VERSIONS = {"1.0", "1.1", "1.2"}
DELETED = "tobedeleted"


class RosterStructureError(Exception):
    """The export as a whole cannot be used; nothing may be applied."""


@dataclass(frozen=True, slots=True)
class RowError:
    file: str
    line: int
    message: str
    # The row's sourcedId when it is a valid one: the row is in the export even though it was
    # rejected, so a bulk import must not treat that user as missing.
    sourced_id: str | None = None


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


@dataclass
class RosterFileInfo:
    name: str               # lower-case file name, e.g. "users.csv"
    member: str | None      # zip member or path as found (None: listed in the manifest, not present)
    mode: str               # "bulk" | "delta" | "absent"
    listed: bool            # named in manifest.csv


def _norm(name: str) -> str:
    return re.sub(r"[\s_]", "", name.strip().lstrip("\ufeff")).lower()


# Per file: normalised header -> canonical column (the spec's name, normalised). Unknown columns
# are ignored with one warning; a column under its canonical name wins over an alias of it.
_USERS = ("sourcedId status dateLastModified enabledUser orgSourcedIds role username userIds givenName familyName "
          "middleName identifier email sms phone agentSourcedIds grades password userMasterIdentifier "
          "preferredGivenName preferredMiddleName preferredFamilyName primaryOrgSourcedId pronouns "
          "resourceSourcedIds").split()
_ORGS = "sourcedId status dateLastModified name type identifier parentSourcedId".split()
_ROLES = ("sourcedId status dateLastModified userSourcedId roleType role beginDate endDate orgSourcedId "
          "userProfileSourcedId").split()
COMMON_ALIASES = {"sourceid": "sourcedid", "datalastmodified": "datelastmodified"}
COLUMNS = {
    "orgs.csv": {**{_norm(c): _norm(c) for c in _ORGS}, **COMMON_ALIASES, "parent": "parentsourcedid"},
    "users.csv": {**{_norm(c): _norm(c) for c in _USERS}, **COMMON_ALIASES, "usersourcedid": "sourcedid",
                  "orgsourcedid": "orgsourcedids", "userid": "userids", "agents": "agentsourcedids",
                  "prefferedgivenname": "preferredgivenname"},
    "roles.csv": {**{_norm(c): _norm(c) for c in _ROLES}, **COMMON_ALIASES},
}
DISPLAY = {_norm(c): c for c in (*_USERS, *_ORGS, *_ROLES)}
REQUIRED = {"orgs.csv": ("sourcedid", "name", "type"), "users.csv": ("sourcedid", "givenname", "familyname"),
            "roles.csv": ("usersourcedid", "role", "orgsourcedid")}


def split_list(value: str | None) -> tuple[str, ...]:
    """`"s1, s2,,"` -> `("s1", "s2")`: trimmed, empties dropped, order and leading zeros kept."""
    if not value:
        return ()
    if "," not in value:
        value = value.strip()
        return (value,) if value else ()
    return tuple(item for item in (part.strip() for part in value.split(",")) if item)


class _Limited(io.RawIOBase):
    """Counts what a zip member really decompresses to. zipfile itself stops at the size the
    header declares (and the CRC check then fails), so this is a second, independent fence."""

    def __init__(self, raw: BinaryIO, budget: int, name: str) -> None:
        self.raw, self.budget, self.name = raw, budget, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.budget -= len(data)
        if self.budget < 0:
            raise RosterStructureError(f"{self.name}: the export decompresses to more than the allowed size")
        buffer[: len(data)] = data
        return len(data)


class _Lines:
    """The physical lines of a CSV text, for `csv.reader`, without the empty ones.

    A run of empty lines is skipped with one regex match on a chunk, never line by line, so it
    costs nothing but the decompression. `starts` holds the physical line numbers of the lines
    handed out since it was last cleared: when the reader returns a row, `starts[0]` is where it
    began (rows may span lines through quoted newlines). An empty line inside a quoted value goes
    too: that value holds line breaks, which no column the directory keeps may hold anyway."""

    def __init__(self, text: io.TextIOBase, name: str, checkpoint: Callable[[], None]) -> None:
        self.text, self.name, self.checkpoint = text, name, checkpoint
        self.starts: deque[int] = deque()

    def __iter__(self) -> Iterator[str]:
        starts, physical, buffer, pos = self.starts, 0, "", 0
        while True:
            self.checkpoint()
            chunk = self.text.read(CHUNK_CHARS)
            buffer = buffer[pos:] + chunk
            pos = 0
            # A final "\r" may be the first half of "\r\n": keep it for the next chunk.
            end = len(buffer) - 1 if chunk and buffer.endswith("\r") else len(buffer)
            while True:
                blank = _BLANK_LINES.match(buffer, pos, end)
                if blank is not None:
                    run = blank.group()
                    physical += run.count("\n") + run.count("\r") - run.count("\r\n")
                    pos = blank.end()
                line = _LINE.match(buffer, pos, end)
                if line is None:
                    break
                physical += 1
                starts.append(physical)
                pos = line.end()
                yield line.group()
            if not chunk:
                if pos < len(buffer):  # a last line without a line end
                    starts.append(physical + 1)
                    yield buffer[pos:]
                return
            if len(buffer) - pos > MAX_LINE_CHARS:
                raise RosterStructureError(f"{self.name}: line {physical + 1} is longer than {MAX_LINE_CHARS:,} "
                                           "characters")


class Roster:
    """An opened export. A context manager: leaving it closes the zip."""

    def __init__(self, members: dict[str, str], *, zf: zipfile.ZipFile | None = None,
                 max_uncompressed_bytes: int = 0, max_rows: int = 0, max_ratio: float = 0,
                 checkpoint: Callable[[], None] | None = None) -> None:
        self.version = "1.0"
        self.files: dict[str, RosterFileInfo] = {
            name: RosterFileInfo(name, member, "bulk", False) for name, member in members.items()}
        self.file_modes: dict[str, str] = {}
        self.warnings: list[str] = []
        self._zip = zf
        self._budget = max_uncompressed_bytes
        self._max_rows = max_rows or None
        self._max_ratio = max_ratio
        self._checkpoint = checkpoint or _never_stop
        self._warned: set[str] = set()
        # sourcedId -> type of each refused org row (not a duplicate): that org is in the export,
        # so the caller keeps it, and its memberships, as they are instead of treating it as gone.
        self.refused_orgs: dict[str, str] = {}

    def __enter__(self) -> Roster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        info = self.files.get(name)
        return info is not None and info.member is not None

    # --- files ---------------------------------------------------------------------------
    @contextmanager
    def _binary(self, name: str) -> Iterator[BinaryIO]:
        member = self.files[name].member
        if self._zip is not None:
            self._check_ratio(name, self._zip.getinfo(member))
            with self._zip.open(member) as raw:
                # A budget per read: a member is read more than once (count, roles, import).
                yield io.BufferedReader(_Limited(raw, self._budget, name), 1 << 16)
        else:
            with open(member, "rb") as f:
                yield f

    @contextmanager
    def _text(self, name: str) -> Iterator[io.TextIOBase]:
        with self._binary(name) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="strict")

    def _check_ratio(self, name: str, info: zipfile.ZipInfo) -> None:
        """Deflate inflates at most ~1,030 times, and real CSV exports ~5 to 30 times: a member far
        above that is a decompression bomb (e.g. a gigabyte of newlines in a 1 MB zip)."""
        if not self._max_ratio or info.file_size < RATIO_FLOOR_BYTES:
            return
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > self._max_ratio:
            raise RosterStructureError(
                f"{name}: would decompress to {ratio:.0f} times its compressed size (at most "
                f"{self._max_ratio:g} allowed); that is a decompression bomb, not an export")

    def _rows(self, name: str, wanted: tuple[str, ...]) -> Iterator[tuple[int, tuple[str, ...]]]:
        """(line where the row starts, the values of the `wanted` canonical columns, "" for a
        column the file lacks) for every non-blank data row. Ragged rows are cut or padded."""
        try:
            with self._text(name) as text:
                lines = _Lines(text, name, self._checkpoint)
                starts = lines.starts
                reader = csv.reader(lines)
                header = next(reader, None)
                if not header or not any(h.strip() for h in header):
                    raise RosterStructureError(f"{name}: the file is empty or has no header row")
                starts.clear()
                columns = self._map_header(name, header)
                # Row cell `width` is always "": it stands in for every column the file lacks.
                width = len(header)
                # The trailing blank makes itemgetter return a tuple even for one wanted column.
                pick = operator.itemgetter(*(columns.get(c, width) for c in wanted), width)
                pad = [""] * (width + 1)
                limit, rows = self._max_rows, 0
                for row in reader:
                    start = starts[0]
                    starts.clear()
                    rows += 1
                    if limit is not None and rows > limit:
                        raise RosterStructureError(
                            f"{name}: more than {limit:,} rows, the most one import reads from a file")
                    if len(row) <= width:
                        row += pad[len(row):]
                    else:
                        row[width] = ""  # an extra cell beyond the header is ignored
                    if not any(cell.strip() for cell in row):
                        continue
                    yield start, pick(row)
        except UnicodeDecodeError:
            raise RosterStructureError(f"{name}: not UTF-8 text (export it as CSV UTF-8)") from None
        except csv.Error as exc:
            raise RosterStructureError(f"{name}: not a readable CSV file ({exc})") from None
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise RosterStructureError(f"{name}: the zip entry is corrupt ({type(exc).__name__})") from None

    def _map_header(self, name: str, header: list[str]) -> dict[str, int]:
        known = COLUMNS[name]
        columns: dict[str, int] = {}
        exact: dict[str, bool] = {}
        ignored = []
        for i, raw in enumerate(header):
            key = _norm(raw)
            if not key:
                continue  # `a,b,,` headers (Moodle roles.csv)
            canonical = known.get(key)
            if canonical is None:
                if not (key.startswith("metadata.") or key.startswith("ext")):
                    ignored.append(raw.strip()[:40])
                continue
            if canonical in columns and (exact[canonical] or key != canonical):
                continue
            columns[canonical], exact[canonical] = i, key == canonical
        required = list(REQUIRED[name])
        if name == "users.csv" and not self.has("roles.csv"):
            required += ["role", "orgsourcedids"]
        missing = [DISPLAY.get(c, c) for c in required if c not in columns]
        if missing:
            # Names only the expected columns: a file without a header has a person's data there.
            raise RosterStructureError(f"{name}: wrong header: missing required column(s) {', '.join(missing)}")
        if ignored:
            self._warn_once(f"columns:{name}", f"{name}: ignored unknown columns {', '.join(ignored)}")
        return columns

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)

    # --- records -------------------------------------------------------------------------
    def orgs(self) -> Iterator[OrgRecord | RowError]:
        rows: list[OrgRecord] = []   # held back until every id is known: parents may come later
        seen: dict[str, int] = {}
        wanted = ("sourcedid", "name", "type", "parentsourcedid", "status")
        for line, (sourced_id, name, kind, parent, status, _) in self._rows("orgs.csv", wanted):
            sourced_id, name, kind = sourced_id.strip(), name.strip(), kind.strip()
            problem = _check_id(sourced_id, seen, line)
            if problem is None and not name:
                problem = "missing required value: name"
            if problem is None and not kind:
                problem = "missing required value: type"
            if problem is None:
                problem = _refused_value((("name", name, NAME_MAX),))
            if problem:
                if sourced_id not in seen and _valid_id(sourced_id):
                    self.refused_orgs.setdefault(sourced_id, kind.lower())
                yield RowError("orgs.csv", line, problem, _valid_id(sourced_id))
                continue
            seen[sourced_id] = line
            rows.append(OrgRecord(sourced_id, name, kind.lower(), parent.strip() or None, _lower(status), line))
        for org in rows:
            if org.parent_sourced_id and org.parent_sourced_id not in seen:
                self.warnings.append(
                    f"orgs.csv line {org.line}: parent org {_shown(org.parent_sourced_id)} not in the export; ignored")
                org = OrgRecord(org.sourced_id, org.name, org.type, None, org.status, org.line)
            yield org

    def _roles(self) -> dict[str, tuple[str, tuple[str, ...], bool, bool, int]]:
        """1.2: user sourcedId -> (role, orgs, role is primary, only tobedeleted rows, primary org count).
        The first primary role wins (else the first role); orgs of primary roles come first;
        `tobedeleted` rows count only for users with no other. Tuples, not lists: 100k users'
        worth of lists costs more in garbage-collector passes than in parsing."""
        found: dict[str, tuple[str, tuple[str, ...], bool, bool, int]] = {}
        skipped = 0
        wanted = ("usersourcedid", "orgsourcedid", "role", "roletype", "status")
        for _line, (user, org, role, role_type, status, _) in self._rows("roles.csv", wanted):
            user, org, role = user.strip(), org.strip(), role.strip()
            if not user or not role:
                skipped += 1
                continue
            primary = role_type.strip().lower() == "primary"
            deleted = status.strip().lower() == DELETED
            entry = found.get(user)
            if entry is None or (entry[3] and not deleted):
                found[user] = (role, (org,) if org else (), primary, deleted, int(primary and bool(org)))
                continue
            if deleted and not entry[3]:
                continue
            role_now, orgs, role_primary, _, n_primary = entry
            if primary and not role_primary:
                role_now, role_primary = role, True
            if org and primary and org not in orgs[:n_primary]:
                orgs = orgs[:n_primary] + (org,) + tuple(o for o in orgs[n_primary:] if o != org)
                n_primary += 1
            elif org and org not in orgs:
                orgs += (org,)
            found[user] = (role_now, orgs, role_primary, entry[3], n_primary)
        if skipped:
            self.warnings.append(f"roles.csv: {skipped} rows without userSourcedId or role ignored")
        return found

    def _role(self, raw: str, line: int) -> str:
        key = _norm(raw)
        if key.startswith("ext:"):
            key = key[4:]
        if key in KNOWN_ROLES:
            return key
        if key in ROLE_ALIASES:
            return ROLE_ALIASES[key]
        self._warn_once(f"role:{key}", f"users.csv line {line}: unknown role {raw.strip()[:40]!r} mapped to staff")
        return "staff"

    def users(self, known_org_ids: Collection[str]) -> Iterator[UserRecord | RowError]:
        roles = self._roles() if self.has("roles.csv") else None
        seen: dict[str, int] = {}
        role_cache: dict[str, str] = {}
        wanted = ("sourcedid", "role", "orgsourcedids", "primaryorgsourcedid", "givenname", "familyname",
                  "middlename", "email", "phone", "sms", "agentsourcedids", "username", "identifier", "grades",
                  "status", "enableduser")
        empty = True
        # The hot loop of a 100k-user import: tuple unpacking, no per-row dicts.
        for line, (sourced_id, role_text, org_text, primary, given, family, middle, email, phone, sms, agent_text,
                   username, identifier, grades, status, enabled, _) in self._rows("users.csv", wanted):
            empty = False
            sourced_id = sourced_id.strip()
            problem = _check_id(sourced_id, seen, line)
            if problem:
                yield RowError("users.csv", line, problem, _valid_id(sourced_id))
                continue
            role_text, orgs = role_text.strip(), list(split_list(org_text))
            if roles is not None and (not role_text or not orgs):
                from_roles = roles.get(sourced_id)
                if from_roles:
                    role_text = role_text or from_roles[0]
                    orgs = orgs or list(from_roles[1])
            primary = primary.strip()
            if primary:
                orgs = [primary] + [o for o in orgs if o != primary]
            given, family = given.strip(), family.strip()
            if not given or not family or not role_text:
                missing = [label for label, value in (("givenName", given), ("familyName", family),
                                                      ("role", role_text)) if not value]
                yield RowError("users.csv", line, f"missing required value: {', '.join(missing)}", sourced_id)
                continue
            email, phone, sms, agents = email.strip(), phone.strip(), sms.strip(), split_list(agent_text)
            # One search over everything stored; the column is only worked out for a refused row.
            if (has_unsafe_characters(f"{given}{family}{email}{phone}{sms}{''.join(agents)}")
                    or len(given) > NAME_MAX or len(family) > NAME_MAX or len(email) > EMAIL_MAX
                    or len(phone) > PHONE_MAX or len(sms) > PHONE_MAX or len(orgs) > SCHOOL_IDS_MAX
                    or any(len(agent) > SOURCED_ID_MAX for agent in agents)):
                problem = _refused_value((("givenName", given, NAME_MAX), ("familyName", family, NAME_MAX),
                                          ("email", email, EMAIL_MAX), ("phone", phone, PHONE_MAX),
                                          ("sms", sms, PHONE_MAX),
                                          *(("agentSourcedIds", agent, SOURCED_ID_MAX) for agent in agents)))
                yield RowError("users.csv", line, problem or f"lists more than {SCHOOL_IDS_MAX} orgs", sourced_id)
                continue
            if not orgs:
                yield RowError("users.csv", line, "missing required value: orgSourcedIds", sourced_id)
                continue
            unknown = [o for o in orgs if o not in known_org_ids]
            if unknown:
                if len(unknown) == len(orgs):
                    yield RowError("users.csv", line, f"references unknown org {_shown(unknown[0])}", sourced_id)
                    continue
                for org in unknown:  # once per org: a stale school id can sit on thousands of rows
                    self._warn_once(f"org:{org}", f"users.csv line {line}: unknown org {_shown(org)} ignored "
                                                  "(and on any later row)")
                orgs = [o for o in orgs if o not in unknown]
            seen[sourced_id] = line
            role = role_cache.get(role_text)
            if role is None:
                role = role_cache[role_text] = self._role(role_text, line)
            yield UserRecord(
                sourced_id, line, status.strip().lower() or None, enabled.strip().lower() in TRUE_WORDS, role,
                given, family, middle.strip() or None, email or None, phone or None,
                sms or None, tuple(orgs), agents, username.strip() or None,
                identifier.strip() or None, split_list(grades),
            )
        if empty:
            self.warnings.append("users.csv has no data rows")

    def estimate_rows(self, name: str) -> int:
        """Lines of `name` that are not empty, minus the header, and at most `max_rows` + 1: an
        upper bound of its rows (a quoted newline counts twice), for a progress total. Bytes only,
        much cheaper than the CSV pass."""
        cap = (self._max_rows or 1 << 62) + 2
        lines, last = 0, b""
        with self._binary(name) as raw:
            while lines < cap and (chunk := raw.read(1 << 20)):
                self._checkpoint()
                lines += len(_CONTENT_LINE_END.findall(last + chunk))
                last = chunk[-1:]
        if last not in (b"", b"\n", b"\r") and lines < cap:
            lines += 1  # a last line without a line end
        return max(0, min(lines, cap) - 1)

    # --- manifest ------------------------------------------------------------------------
    def _read_manifest(self) -> None:
        if not self.has("manifest.csv"):
            self.warnings.append("no manifest.csv: read as OneRoster 1.0")
        else:
            try:
                with self._text("manifest.csv") as text:
                    for number, row in enumerate(csv.reader(_Lines(text, "manifest.csv", self._checkpoint))):
                        if self._max_rows is not None and number > self._max_rows:
                            raise RosterStructureError(f"manifest.csv: more than {self._max_rows:,} rows")
                        if len(row) >= 2:
                            self._manifest_entry(row[0].strip().lstrip("\ufeff").lower(), row[1].strip().lower())
            except (UnicodeDecodeError, csv.Error):
                raise RosterStructureError("manifest.csv: not a readable CSV file") from None
        has_manifest = self.has("manifest.csv")
        for info in self.files.values():
            if info.member is None and info.mode != "absent":
                self.warnings.append(f"manifest lists {info.name} as {info.mode} but the file is missing: "
                                     "treated as absent")
                info.mode = "absent"
            elif info.member is not None and info.mode == "absent":
                # The data wins over the manifest hint.
                self.warnings.append(f"manifest says {info.name} is absent but the file is present: read as bulk")
                info.mode = "bulk"
            elif has_manifest and not info.listed and info.name != "manifest.csv":
                self.warnings.append(f"{info.name} is not listed in manifest.csv: read as bulk")
        self.file_modes = {name: info.mode for name, info in self.files.items() if name != "manifest.csv"}

    def _manifest_entry(self, key: str, value: str) -> None:
        if key == "oneroster.version":
            numbers = re.findall(r"\d+", value)[:2]
            version = ".".join(numbers + ["0"] * (2 - len(numbers))) if numbers else ""
            if version in VERSIONS:
                self.version = version
            else:
                self.version = "1.2" if self.has("roles.csv") else "1.1"
                self.warnings.append(f"manifest.csv: unknown oneroster.version {value[:20]!r}; read as {self.version}")
        elif key.startswith("file.") and len(key) > 5:
            name = key[5:] + ".csv"
            mode = value or "absent"
            if mode not in MODES:
                self.warnings.append(f"manifest.csv: unknown mode {value[:20]!r} for {name}; read as bulk")
                mode = "bulk"
            info = self.files.setdefault(name, RosterFileInfo(name, None, mode, True))
            info.mode, info.listed = mode, True


def _never_stop() -> None:
    return None


def _refused_value(columns: tuple[tuple[str, str, int], ...]) -> str | None:
    """Why a row's value may not enter the directory, naming its column (never the value), or None."""
    for column, value, longest in columns:
        reason = refusal(value)
        if reason:
            return f"{column} {reason}"
        if len(value) > longest:
            return f"{column} is longer than {longest} characters"
    return None


def _shown(sourced_id: str) -> str:
    """An org id for a message: shown only when it is a valid sourcedId (else it could be anything)."""
    return sourced_id if SOURCED_ID.match(sourced_id) else "(not a valid sourcedId)"


def _lower(value: str | None) -> str | None:
    value = (value or "").strip()
    return value.lower() or None


def _valid_id(sourced_id: str) -> str | None:
    return sourced_id if SOURCED_ID.match(sourced_id) else None


def _check_id(sourced_id: str, seen: dict[str, int], line: int) -> str | None:
    if not sourced_id:
        return "missing required value: sourcedId"
    if not SOURCED_ID.match(sourced_id):
        if len(sourced_id) > 255:
            return "invalid sourcedId: 256 characters or more"
        return "invalid sourcedId: characters outside [0-9A-Za-z._-/@{}:]"
    if sourced_id in seen:
        return f"duplicate sourcedId {sourced_id} (first seen on line {seen[sourced_id]})"
    return None


def _index(names: list[str], where: str) -> dict[str, str]:
    """Lower-case CSV name -> member, for CSVs at the root or all inside one top-level folder."""
    names = [n for n in names if not n.startswith("__MACOSX/") and not PurePosixPath(n).name.startswith(".")]
    csvs = [n for n in names if n.lower().endswith(".csv")]
    chosen = [n for n in csvs if "/" not in n]
    if not chosen:
        tops = {n.split("/", 1)[0] for n in names if "/" in n}
        if len(tops) == 1:
            top = tops.pop()
            chosen = [n for n in csvs if n.startswith(top + "/") and n.count("/") == 1]
    if not chosen:
        raise RosterStructureError(f"{where}: no CSV files at the root of the export")
    members: dict[str, str] = {}
    for member in chosen:
        name = PurePosixPath(member).name.lower()
        if name in members:
            raise RosterStructureError(f"{where}: two files named {name} (differing only in case)")
        members[name] = member
    return members


def _check_zip(zf: zipfile.ZipFile, where: str, max_uncompressed_bytes: int, max_entries: int) -> None:
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise RosterStructureError(f"{where}: the zip has {len(infos)} entries (at most {max_entries} allowed)")
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in PurePosixPath(name).parts or re.match(r"^[A-Za-z]:", name):
            raise RosterStructureError(f"{where}: unsafe path in the zip: {info.filename[:100]!r}")
        total += info.file_size
    if total > max_uncompressed_bytes:
        raise RosterStructureError(
            f"{where}: the zip would decompress to {total} bytes (at most {max_uncompressed_bytes} allowed)")


def open_roster(path: str | Path | bytes | BinaryIO, *, max_uncompressed_bytes: int = 1_000_000_000,
                max_entries: int = 64, max_rows: int = 0, max_ratio: float = 0,
                checkpoint: Callable[[], None] | None = None) -> Roster:
    """Open a zipped export (path, bytes or binary file) or a folder; use the result in `with`.
    `max_rows` / `max_ratio` 0: no limit. `checkpoint` is called between chunks of every file read
    and may raise to stop the reading."""
    limits = {"max_rows": max_rows, "max_ratio": max_ratio, "checkpoint": checkpoint}
    if isinstance(path, (str, Path)) and Path(path).is_dir():
        folder = Path(path)
        entries = [p.name for p in folder.iterdir() if p.is_file()]
        subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
        if len(subfolders) == 1 and not any(e.lower().endswith(".csv") for e in entries):
            entries += [f"{subfolders[0].name}/{p.name}" for p in subfolders[0].iterdir() if p.is_file()]
        members = {name: str(folder / member) for name, member in _index(entries, folder.name).items()}
        roster = Roster(members, **limits)
    else:
        where = Path(path).name if isinstance(path, (str, Path)) else "the uploaded file"
        source = io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path
        try:
            zf = zipfile.ZipFile(source)
        except FileNotFoundError:
            raise RosterStructureError(f"{where}: not a zip archive or a folder (no such file)") from None
        except (zipfile.BadZipFile, OSError, ValueError):
            raise RosterStructureError(f"{where}: not a zip archive (or a folder) of OneRoster CSV files") from None
        try:
            _check_zip(zf, where, max_uncompressed_bytes, max_entries)
            roster = Roster(_index(zf.namelist(), where), zf=zf, max_uncompressed_bytes=max_uncompressed_bytes,
                            **limits)
        except BaseException:
            zf.close()
            raise
    try:
        for required in ("users.csv", "orgs.csv"):
            if not roster.has(required):
                raise RosterStructureError(f"{required} is missing from the export")
        roster._read_manifest()
    except BaseException:
        roster.close()
        raise
    return roster
