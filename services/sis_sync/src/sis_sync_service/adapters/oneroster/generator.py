"""Generate realistic OneRoster bulk exports (deterministic for a seed) for tests, demos, benchmarks.

    python -m sis_sync_service.adapters.oneroster.generator out.zip --students 50000 --parents 40000 --staff 10000 --schools 50

With `quirks` (the default) the files carry what real exports do: a UTF-8 BOM, CRLF line ends,
an extension column whose quoted value holds a comma and a newline, mixed role case, empty
optional columns, phones in mixed formats, multi-valued org lists with spaces.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

GIVEN = ["Ava", "Liam", "Noah", "Emma", "Olivia", "Mateo", "Sofía", "Zoë", "Chloé", "Amir", "Aaliyah", "Kai",
         "Hannah", "Jonas", "Mei", "Priya", "Dmitri", "Fatima", "Luca", "Nia", "Oscar", "Ingrid", "Tomás", "Yuki"]
FAMILY = ["Smith", "García", "O'Brien", "Nguyen", "Johnson", "Müller", "Kowalski", "Okafor", "Martin", "Rossi",
          "Brown", "Haddad", "Silva", "Kim", "Patel", "Dubois", "Ivanova", "Cohen", "Jensen", "Lopez", "Wright, Jr."]
USERS_11 = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username", "userIds",
            "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds",
            "grades", "password"]
USERS_121 = ["sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds", "givenName",
             "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
             "password", "userMasterIdentifier", "preferredGivenName", "preferredMiddleName",
             "preferredFamilyName", "primaryOrgSourcedId", "pronouns"]
ROLES = ["sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role", "beginDate", "endDate",
         "orgSourcedId", "userProfileSourcedId"]
ROLE_12 = {"administrator": "siteAdministrator"}  # 1.2 roles.csv has no plain "administrator"
ORGS = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"]


def _phone(rng: random.Random, n: int) -> str:
    number = 5550000000 + (n * 7919) % 9999999
    text = str(number)
    return f"+1{text}" if rng.random() < 0.5 else f"({text[:3]}) {text[3:6]} {text[6:]}"


@contextmanager
def _files(dest: Path, as_zip: bool) -> Iterator[Callable[..., object]]:
    """Yields `open_csv(name, quirks)`: a context manager giving a csv.writer that streams straight
    into the zip member (or the folder's file), with a BOM and CRLF when `quirks`."""
    if as_zip:
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            yield lambda name, quirks: _csv_writer(zf.open(name, "w"), quirks)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        for stale in ("manifest.csv", "roles.csv"):  # from an earlier run with another version
            (dest / stale).unlink(missing_ok=True)
        yield lambda name, quirks: _csv_writer(open(dest / name, "wb"), quirks)  # noqa: SIM115


@contextmanager
def _csv_writer(stream, quirks: bool):
    with io.TextIOWrapper(stream, encoding="utf-8", newline="") as text:  # closing it closes the stream
        if quirks:
            text.write("\ufeff")
        yield csv.writer(text, lineterminator="\r\n" if quirks else "\n")


def generate_roster(dest: str | Path, *, district_name: str = "Springfield Public Schools", schools: int = 5,
                    students: int = 300, parents: int = 240, staff: int = 60, seed: int = 1, version: str = "1.1",
                    quirks: bool = True, as_zip: bool = True) -> Path:
    """Write an export to `dest` (a zip, or a folder when not `as_zip`) and return `dest`.

    orgs: `dist-1` and schools `sch-001`...; users: students `stu-000001`... (grades, one school),
    parents/guardians `par-000001`... (1-3 children: odd parents list them in agentSourcedIds, the
    children of even parents list the parent), staff `stf-00001`... (teachers, administrators,
    aides; every 4th in two schools). version "1.0" writes no manifest; "1.2" writes the 1.2.1
    users.csv header and roles.csv."""
    if version not in ("1.0", "1.1", "1.2"):
        raise ValueError(f"version must be 1.0, 1.1 or 1.2, not {version!r}")
    if schools < 1:
        raise ValueError("schools must be at least 1")
    rng = random.Random(seed)
    dest = Path(dest)
    v12 = version == "1.2"
    school_ids = [f"sch-{i:03d}" for i in range(1, schools + 1)]
    student_ids = [f"stu-{i:06d}" for i in range(1, students + 1)]
    student_school = {sid: school_ids[i % schools] for i, sid in enumerate(student_ids)}
    # Parent -> children (1-3). Odd parents list their children; even parents are listed by them.
    children: dict[str, list[str]] = {}
    listed_by_child: dict[str, list[str]] = {}
    for i in range(1, parents + 1):
        pid = f"par-{i:06d}"
        kids = rng.sample(student_ids, k=min(len(student_ids), rng.choice((1, 1, 2, 3)))) if student_ids else []
        children[pid] = kids
        if i % 2 == 0:
            for kid in kids:
                listed_by_child.setdefault(kid, []).append(pid)
    users_header = USERS_121 if v12 else USERS_11
    extra = ["metadata.note"] if quirks else []
    role_rows: list[list[str]] = []  # 1.2 only: a few short rows per user, written after users.csv

    def person(n: int) -> tuple[str, str]:
        return GIVEN[(n * 31 + seed) % len(GIVEN)], FAMILY[(n * 17 + seed * 3) % len(FAMILY)]

    def user_row(sid, role, orgs, given, family, email, phone, sms, agents, grades, note="") -> list[str]:
        shown_role = role
        if quirks and rng.random() < 0.1:
            shown_role = role.upper() if rng.random() < 0.5 else role.capitalize()
        org_text = (", " if quirks and len(orgs) > 1 and rng.random() < 0.5 else ",").join(orgs)
        values = {"sourcedId": sid, "status": "", "dateLastModified": "", "enabledUser": "true",
                  "orgSourcedIds": org_text, "role": shown_role, "username": sid, "userIds": "",
                  "givenName": given, "familyName": family, "middleName": "", "identifier": "",
                  "email": email, "sms": sms, "phone": phone, "agentSourcedIds": ",".join(agents),
                  "grades": grades, "password": "", "primaryOrgSourcedId": orgs[0] if orgs else ""}
        if v12:
            role_12 = ROLE_12.get(role, role)
            for j, org in enumerate(orgs):
                role_rows.append([f"{sid}-r{j}", "", "", sid, "primary" if j == 0 else "secondary", role_12, "", "",
                                  org, ""])
        return [values.get(col, "") for col in users_header] + ([note] if quirks else [])

    with _files(dest, as_zip) as open_csv:
        with open_csv("orgs.csv", quirks) as w:
            w.writerow(ORGS)
            w.writerow(["dist-1", "", "", district_name, "district", "D1", ""])
            for i, school in enumerate(school_ids, start=1):
                name = f"{FAMILY[i % len(FAMILY)]} {('Elementary', 'Middle', 'High')[i % 3]} School"
                w.writerow([school, "", "", name + (", North Campus" if i == 2 else ""), "school", f"{i:04d}",
                            "dist-1"])
        with open_csv("users.csv", quirks) as w:
            w.writerow(users_header + extra)
            n = 0
            for sid in student_ids:
                n += 1
                given, family = person(n)
                grade = f"{(n % 12) + 1:02d}" if n % 13 else "KG"
                email = f"{sid}@students.example.org" if n % 5 else ""
                note = "Allergies: peanuts, dairy\nSee nurse" if quirks and n == 1 else ""
                w.writerow(user_row(sid, "student", [student_school[sid]], given, family, email, "", "",
                                    listed_by_child.get(sid, []), grade, note))
            for pid, kids in children.items():
                n += 1
                given, family = person(n)
                orgs = sorted({student_school[k] for k in kids}) or school_ids[:1]
                role = "guardian" if n % 7 == 0 else "parent"
                agents = kids if int(pid[-6:]) % 2 == 1 else []
                w.writerow(user_row(pid, role, orgs, given, family, f"{given.lower()}.{n}@example.org",
                                    _phone(rng, n), _phone(rng, n + 1) if n % 3 == 0 else "", agents, ""))
            for i in range(1, staff + 1):
                n += 1
                given, family = person(n)
                role = "administrator" if i % 10 == 1 else ("aide" if i % 10 == 5 else "teacher")
                orgs = [school_ids[i % schools]]
                if i % 4 == 0 and schools > 1:
                    orgs.append(school_ids[(i + 1) % schools])
                w.writerow(user_row(f"stf-{i:05d}", role, orgs, given, family, f"staff{i}@district.example.org",
                                    _phone(rng, n), "", [], ""))
        if role_rows:
            with open_csv("roles.csv", quirks) as w:
                w.writerow(ROLES)
                w.writerows(role_rows)
        with open_csv("enrollments.csv", quirks) as w:
            w.writerow(["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
                        "userSourcedId", "role", "primary", "beginDate", "endDate"])
            for i, sid in enumerate(student_ids[:10]):
                w.writerow([f"enr-{i}", "", "", "class-1", student_school[sid], sid, "student", "false", "", ""])
        with open_csv("demographics.csv", quirks) as w:
            w.writerow(["sourcedId", "status", "dateLastModified", "birthDate", "sex"])
            for sid in student_ids[:10]:
                w.writerow([sid, "", "", "2012-04-23", "female"])
        if version != "1.0":  # a 1.0 export has no manifest
            with open_csv("manifest.csv", False) as w:
                w.writerow(["propertyName", "value"])
                w.writerow(["manifest.version", "1.0"])
                w.writerow(["oneroster.version", version])
                for name in ("orgs", "users", "enrollments", "demographics"):
                    w.writerow([f"file.{name}", "bulk"])
                w.writerow(["file.roles", "bulk" if role_rows else "absent"])
                w.writerow(["source.systemName", "Generator"])
    return dest


def rewrite_users(src: Path, dest: Path, mutate: Callable[[dict[str, str]], dict[str, str] | None]) -> Path:
    """A copy of an export (zip, or folder when `src` is one) whose users.csv rows went through
    `mutate` (None drops the row); BOM and line ends are kept, other files copied unchanged."""
    src, dest = Path(src), Path(dest)
    if src.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        for path in src.iterdir():
            if path.name.lower() == "users.csv":
                with path.open("rb") as fin, (dest / path.name).open("wb") as fout:
                    _rewrite_csv(fin, fout, mutate)
            elif path.is_file():
                shutil.copyfile(path, dest / path.name)
        return dest
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            if info.is_dir():
                zout.writestr(info, b"")
                continue
            with zin.open(info) as fin, zout.open(info.filename, "w") as fout:
                if PurePosixPath(info.filename).name.lower() == "users.csv":
                    _rewrite_csv(fin, fout, mutate)
                else:
                    shutil.copyfileobj(fin, fout, 1 << 20)
    return dest


def _rewrite_csv(fin, fout, mutate) -> None:
    head = fin.peek(4096)[:4096] if hasattr(fin, "peek") else b""
    bom = head.startswith(b"\xef\xbb\xbf")
    terminator = "\r\n" if b"\r\n" in head or not head else "\n"
    with io.TextIOWrapper(fin, encoding="utf-8-sig", newline="") as text_in, \
            io.TextIOWrapper(fout, encoding="utf-8", newline="") as text_out:
        reader = csv.DictReader(text_in)
        if bom:
            text_out.write("\ufeff")
        writer = csv.DictWriter(text_out, fieldnames=reader.fieldnames or [], lineterminator=terminator)
        writer.writeheader()
        for row in reader:
            row.pop(None, None)  # cells beyond the header (ragged rows) are not carried over
            changed = mutate(row)
            if changed is not None:
                writer.writerow(changed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a OneRoster bulk export")
    parser.add_argument("dest")
    parser.add_argument("--schools", type=int, default=5)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--parents", type=int, default=240)
    parser.add_argument("--staff", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--version", default="1.1", choices=["1.0", "1.1", "1.2"])
    parser.add_argument("--folder", action="store_true", help="write a folder instead of a zip")
    parser.add_argument("--no-quirks", action="store_true")
    args = parser.parse_args(argv)
    path = generate_roster(Path(args.dest), schools=args.schools, students=args.students, parents=args.parents,
                           staff=args.staff, seed=args.seed, version=args.version, quirks=not args.no_quirks,
                           as_zip=not args.folder)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
