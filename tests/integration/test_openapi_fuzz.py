"""schemathesis against every service's OpenAPI, as real processes: 0 server errors.

The four services run from their production entrypoints (the `system` fixture) with one district
imported through sis_sync. Each service's /openapi.json is fuzzed through the schemathesis CLI
(examples, coverage, fuzzing and stateful phases) twice: with the token of a person who is
district admin and district-level Users Manager (so most routes get past authorization), then with
the system token. The person runs come first and sis_sync last, because a stateful run may change
the person's own permissions. A 5xx fails the test with the request that reproduces it, and so
does an answer the document does not promise: a status it does not list for the operation
(status_code_conformance), or a body or content type other than the one it lists for that status.

FUZZ_EXAMPLES (default 100) bounds the examples per operation; FUZZ_SEED replays a run. The reports
and a summary are kept in test-artifacts/openapi-fuzz/.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster

DISTRICT = "fuzz"
SERVICES = ("requests", "settings", "digest", "sis_sync")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"


async def seed_district(sys_, tmp_path: Path) -> dict:
    """Import a small roster; make its first staff member district admin and Users Manager."""
    roster = generate_roster(tmp_path / "roster.zip", schools=2, students=12, parents=6, staff=4, seed=11)
    sis, system = sys_.urls["sis_sync"], sys_.system_headers
    r = await sys_.client.post(f"{sis}/api/v1/districts/{DISTRICT}/sis-imports", headers=system,
                               files={"file": (roster.name, roster.read_bytes(), "application/zip")})
    assert r.status_code == 202, r.text
    run_url = f"{sis}/api/v1/sis-imports/{r.json()['id']}"

    async def imported() -> bool:
        status = (await sys_.client.get(run_url, headers=system)).json()["status"]
        assert status != "failed"
        return status == "succeeded"

    await wait_until(imported, timeout=60, message="roster import")
    r = await sys_.client.get(f"{sis}/api/v1/directory/users", params={"district_id": DISTRICT, "limit": 100},
                              headers=system)
    people = sorted(r.json()["items"], key=lambda u: u["sis_id"])
    admin = next(u for u in people if u["role"] not in ("student", "parent", "guardian"))
    student = next(u for u in people if u["role"] == "student")
    r = await sys_.client.put(f"{sis}/api/v1/directory/users/{admin['id']}/permissions", headers=system,
                              json={"district_admin": True, "users_manager": {"scope": "district"}})
    assert r.status_code == 200, r.text
    person = sys_.person_headers(admin)

    async def answers(method: str, url: str, status: int, headers=person, **kwargs) -> bool:
        return (await sys_.client.request(method, url, headers=headers, **kwargs)).status_code == status

    # every service has applied the directory events before the fuzzing starts
    await wait_until(lambda: answers("PATCH", f"{sys_.urls['settings']}/api/v1/districts/{DISTRICT}/settings",
                                     200, json={"profile_update_requests_enabled": True}),
                     timeout=30, message="settings knows the district admin")
    await wait_until(lambda: answers("POST", f"{sys_.urls['requests']}/api/v1/requests", 201,
                                     sys_.person_headers(student), json={"note": "a request to list"}),
                     timeout=30, message="requests takes a submission")
    await wait_until(lambda: answers("GET", f"{sys_.urls['requests']}/api/v1/requests", 200),
                     timeout=30, message="requests knows the Users Manager")
    await wait_until(lambda: answers("GET", f"{sys_.urls['digest']}/api/v1/digests", 200),
                     timeout=30, message="digest knows the district admin")
    return person


async def fuzz(base_url: str, headers: dict, out: Path, *, examples: int, seed: int) -> dict:
    """One schemathesis CLI run; its JSON report, the JUnit failures and the console output."""
    out.mkdir(parents=True, exist_ok=True)
    json_report, junit_report = out / "report.json", out / "junit.xml"
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
               "--checks", CHECKS, "--max-examples", str(examples), "--seed", str(seed),
               "--request-timeout", "20", "--generation-database", "none", "--no-color",
               "--report", "json,junit", "--report-json-path", str(json_report),
               "--report-junit-path", str(junit_report)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    proc = await asyncio.create_subprocess_exec(*command, cwd=out, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    console = (await proc.communicate())[0].decode(errors="replace")
    (out / "console.txt").write_text(console)
    assert json_report.exists(), f"schemathesis wrote no report (exit {proc.returncode}):\n{console[-3000:]}"
    report = json.loads(json_report.read_text())
    failures = [f"{case.get('name')}: {problem.text}"
                for case in ET.parse(junit_report).iter("testcase")
                for problem in [*case.findall("failure"), *case.findall("error")]]
    return {"report": report, "failures": failures, "console": console}


async def test_no_route_of_any_service_answers_a_server_error_to_fuzzed_requests(system, tmp_path, request):
    sys_ = system
    person = await seed_district(sys_, tmp_path)
    examples = int(os.environ.get("FUZZ_EXAMPLES", "100"))
    seed = int(os.environ.get("FUZZ_SEED", random.randrange(1, 2**31)))
    artifacts = request.config.rootpath / "test-artifacts" / "openapi-fuzz"
    summary, problems = [], []
    for who, headers in (("person", person), ("system", sys_.system_headers)):
        for service in SERVICES:
            run = await fuzz(sys_.urls[service], headers, artifacts / f"{service}-{who}", examples=examples, seed=seed)
            report = run["report"]
            server_errors = sum(f["count"] for f in report["failures"] if f["code"] == "ST101")
            summary.append({
                "service": service, "token": who, "operations": report["operations"]["tested"],
                "cases": report["test_cases"]["generated"], "server_errors": server_errors,
                "other_failures": sum(f["count"] for f in report["failures"] if f["code"] != "ST101"),
                "errors": len(report["errors"]), "seconds": round(report["running_time"], 1),
                "only_401_403": report["warnings"].get("missing_auth", []),
            })
            if report["failures"] or report["errors"] or report["stop_reason"] != "completed":
                detail = "\n\n".join(run["failures"]) or run["console"][-4000:]
                problems.append(f"== {service} with the {who} token (FUZZ_SEED={seed}):\n{detail}")
    write_summary(artifacts, summary, seed, examples)
    assert not problems, "\n\n".join(problems)
    assert all(row["operations"] > 0 and row["cases"] > 0 for row in summary), summary


def write_summary(artifacts: Path, summary: list[dict], seed: int, examples: int) -> None:
    lines = [f"schemathesis {CHECKS}; max {examples} examples per operation; FUZZ_SEED={seed}",
             "service   token   operations  cases  5xx  other  seconds"]
    lines += [f"{r['service']:<9} {r['token']:<7} {r['operations']:>10} {r['cases']:>6} {r['server_errors']:>4}"
              f" {r['other_failures'] + r['errors']:>6} {r['seconds']:>8}" for r in summary]
    lines.append(f"total: {sum(r['cases'] for r in summary)} cases, "
                 f"{sum(r['server_errors'] for r in summary)} server errors")
    text = "\n".join(lines)
    print("\n" + text)
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "summary.txt").write_text(text + "\n")
    (artifacts / "summary.json").write_text(json.dumps({"seed": seed, "max_examples": examples, "runs": summary},
                                                       indent=2))
