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
from pathlib import Path

GIVEN = ["Ava", "Liam", "Noah", "Emma", "Olivia", "Mateo", "Sofía", "Zoë", "Chloé", "Amir", "Aaliyah", "Kai",
         "Hannah", "Jonas", "Mei", "Priya", "Dmitri", "Fatima", "Luca", "Nia", "Oscar", "Ingrid", "Tomás", "Yuki"]
FAMILY = ["Smith", "García", "O'Brien", "Nguyen", "Johnson", "Müller", "Kowalski", "Okafor", "Martin", "Rossi",
          "Brown", "Haddad", "Silva", "Kim", "Patel", "Dubois", "Ivanova", "Cohen", "Jensen", "Lopez", "Wright"]
USERS_11 = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username", "userIds",
            "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds",
            "grades", "password"]
USERS_121 = ["sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds", "givenName",
             "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
             "password", "userMasterIdentifier", "preferredGivenName", "preferredMiddleName",
             "preferredFamilyName", "primaryOrgSourcedId", "pronouns"]
ROLES = ["sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role", "beginDate", "endDate",
         "orgSourcedId", "userProfileSourcedId"]
ORGS = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"]


def _phone(rng: random.Random, n: int) -> str:
    number = 5550000000 + (n * 7919) % 9999999
    text = str(number)
    return f"+1{text}" if rng.random() < 0.5 else f"({text[:3]}) {text[3:6]} {text[6:]}"


class _Writer:
    """One CSV file written straight into the zip (or folder), with or without the quirks."""

    def __init__(self, stream, quirks: bool) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        if quirks:
            self.text.write("\ufeff")
        self.csv = csv.writer(self.text, lineterminator="\r\n" if quirks else "\n")

    def row(self, values) -> None:
        self.csv.writerow(values)


@contextmanager
def _files(dest: Path, as_zip: bool) -> Iterator[Callable[[str], object]]:
    if as_zip:
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            yield lambda name: zf.open(name, "w")
    else:
        dest.mkdir(parents=True, exist_ok=True)
        yield lambda name: open(dest / name, "wb")  # noqa: SIM115


def generate_roster(dest: str | Path, *, district_name: str = "Springfield Public Schools", schools: int = 5,
                    students: int = 300, parents: int = 240, staff: int = 60, seed: int = 1, version: str = "1.1",
                    quirks: bool = True, as_zip: bool = True) -> Path:
    rng = random.Random(seed)
    dest = Path(dest)
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
    users_header = USERS_11 if version.startswith("1.1") or version == "1.0" else USERS_121
    extra = ["metadata.note"] if quirks else []
    role_rows: list[list[str]] = []

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
        if not version.startswith("1.1") and version != "1.0":
            for j, org in enumerate(orgs):
                role_rows.append([f"{sid}-r{j}", "", "", sid, "primary" if j == 0 else "secondary", role, "", "",
                                  org, ""])
        return [values.get(col, "") for col in users_header] + ([note] if quirks else [])

    with _files(dest, as_zip) as open_file:
        with open_file("orgs.csv") as f:
            w = _Writer(f, quirks)
            w.row(ORGS)
            w.row(["dist-1", "", "", district_name, "district", "D1", ""])
            for i, school in enumerate(school_ids, start=1):
                w.row([school, "", "", f"{FAMILY[i % len(FAMILY)]} {('Elementary', 'Middle', 'High')[i % 3]} School",
                       "school", f"{i:04d}", "dist-1"])
            w.text.flush()
        with open_file("users.csv") as f:
            w = _Writer(f, quirks)
            w.row(users_header + extra)
            n = 0
            for sid in student_ids:
                n += 1
                given, family = person(n)
                grade = f"{(n % 12) + 1:02d}" if n % 13 else "KG"
                email = f"{sid}@students.example.org" if n % 5 else ""
                note = "Allergies: peanuts, dairy\nSee nurse" if quirks and n == 1 else ""
                w.row(user_row(sid, "student", [student_school[sid]], given, family, email, "", "",
                               listed_by_child.get(sid, []), grade, note))
            for pid, kids in children.items():
                n += 1
                given, family = person(n)
                orgs = sorted({student_school[k] for k in kids}) or school_ids[:1]
                role = "guardian" if n % 7 == 0 else "parent"
                agents = kids if int(pid[-6:]) % 2 == 1 else []
                w.row(user_row(pid, role, orgs, given, family, f"{given.lower()}.{n}@example.org",
                               _phone(rng, n), _phone(rng, n + 1) if n % 3 == 0 else "", agents, ""))
            for i in range(1, staff + 1):
                n += 1
                given, family = person(n)
                role = "administrator" if i % 10 == 1 else ("aide" if i % 10 == 5 else "teacher")
                orgs = [school_ids[i % schools]] + ([school_ids[(i + 1) % schools]] if i % 4 == 0 and schools > 1 else [])
                w.row(user_row(f"stf-{i:05d}", role, orgs, given, family, f"staff{i}@district.example.org",
                               _phone(rng, n), "", [], ""))
            w.text.flush()
        if role_rows:
            with open_file("roles.csv") as f:
                w = _Writer(f, quirks)
                w.row(ROLES)
                for row in role_rows:
                    w.row(row)
                w.text.flush()
        with open_file("enrollments.csv") as f:
            w = _Writer(f, quirks)
            w.row(["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId", "userSourcedId",
                   "role", "primary", "beginDate", "endDate"])
            for i, sid in enumerate(student_ids[:10]):
                w.row([f"enr-{i}", "", "", "class-1", student_school[sid], sid, "student", "false", "", ""])
            w.text.flush()
        with open_file("demographics.csv") as f:
            w = _Writer(f, quirks)
            w.row(["sourcedId", "status", "dateLastModified", "birthDate", "sex"])
            for sid in student_ids[:10]:
                w.row([sid, "", "", "2012-04-23", "female"])
            w.text.flush()
        with open_file("manifest.csv") as f:
            w = _Writer(f, False)
            w.row(["propertyName", "value"])
            w.row(["manifest.version", "1.0"])
            w.row(["oneroster.version", "1.1" if version.startswith("1.1") else "1.2"])
            for name in ("orgs", "users", "enrollments", "demographics"):
                w.row([f"file.{name}", "bulk"])
            w.row(["file.roles", "bulk" if role_rows else "absent"])
            w.row(["source.systemName", "Generator"])
            w.text.flush()
    return dest


def rewrite_users(src: Path, dest: Path, mutate: Callable[[dict[str, str]], dict[str, str] | None]) -> Path:
    """A copy of a zipped export whose users.csv rows went through `mutate` (None drops the row)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.lower() == "users.csv":
                text = data.decode("utf-8-sig")
                bom = data.startswith(b"\xef\xbb\xbf")
                terminator = "\r\n" if "\r\n" in text[:2000] else "\n"
                reader = csv.DictReader(io.StringIO(text, newline=""))
                out = io.StringIO(newline="")
                writer = csv.DictWriter(out, fieldnames=reader.fieldnames, lineterminator=terminator)
                writer.writeheader()
                for row in reader:
                    changed = mutate(dict(row))
                    if changed is not None:
                        writer.writerow(changed)
                data = ("\ufeff" if bom else "").encode() + out.getvalue().encode()
            zout.writestr(info.filename, data)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a OneRoster bulk export")
    parser.add_argument("dest")
    parser.add_argument("--schools", type=int, default=5)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--parents", type=int, default=240)
    parser.add_argument("--staff", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--version", default="1.1", choices=["1.1", "1.2"])
    parser.add_argument("--folder", action="store_true", help="write a folder instead of a zip")
    parser.add_argument("--no-quirks", action="store_true")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    if args.folder and dest.exists():
        shutil.rmtree(dest)
    path = generate_roster(dest, schools=args.schools, students=args.students, parents=args.parents,
                           staff=args.staff, seed=args.seed, version=args.version, quirks=not args.no_quirks,
                           as_zip=not args.folder)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
