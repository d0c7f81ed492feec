"""A district driven through the public HTTP APIs only: roster imports, grants, settings,
submissions (Idempotency-Key, retried until answered), Mark as Done / Restore, digest runs."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pur_kit.auth import mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.testing import wait_until
from sis_sync_service.adapters.oneroster.generator import generate_roster, rewrite_users

from .system import FaultSystem

DISTRICT = "faults"
SYSTEM = {"Authorization": f"Bearer {mint_token(DEV_JWT_SECRET, sub='system', system=True, ttl_seconds=7200)}"}
ANSWER_WITHIN = 180.0   # a request is retried this long (outages last at most ~75 s)


def person(user: dict) -> dict[str, str]:
    token = mint_token(DEV_JWT_SECRET, sub=str(user["id"]), district_id=user["district_id"], ttl_seconds=7200)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class District:
    system: FaultSystem
    roster: Path
    users: list[dict] = field(default_factory=list)
    admin: dict | None = None
    managers: list[dict] = field(default_factory=list)      # a district-level one, then one per school
    students: list[dict] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)   # Idempotency-Key -> final HTTP status
    request_ids: dict[str, str] = field(default_factory=dict)   # Idempotency-Key -> request id

    # --- roster ----------------------------------------------------------------------------
    async def import_roster(self, path: Path, replica: int = 0, retry_failed: bool = False) -> dict:
        """Upload and wait for the run; with `retry_failed`, a run failed by a crash (the restarted
        service fails the runs it finds unfinished) is started again, as an operator would."""
        for _ in range(3 if retry_failed else 1):
            run = await self._import_once(path, replica)
            if run["status"] == "succeeded":
                break
        return run

    async def _import_once(self, path: Path, replica: int) -> dict:
        base = self.system.url("sis_sync", replica)
        r = await _call(self.system.client, "POST", f"{base}/api/v1/districts/{DISTRICT}/sis-imports",
                        files={"file": (path.name, path.read_bytes(), "application/zip")}, headers=SYSTEM,
                        retry_on=(409, 503))
        assert r.status_code == 202, r.text
        run_id, run = r.json()["id"], {}

        async def finished() -> bool:
            nonlocal run
            r = await _call(self.system.client, "GET", f"{base}/api/v1/sis-imports/{run_id}", headers=SYSTEM)
            run = r.json()
            return run["status"] in ("succeeded", "failed")

        await wait_until(finished, timeout=ANSWER_WITHIN, interval=0.2, message="the import run")
        return run

    def changed_roster(self, tag: str, every: int = 1) -> Path:
        """The roster with the family name of every `every`-th user changed (a directory change each)."""
        counter = iter(range(10**9))

        def rename(row: dict) -> dict:
            if next(counter) % every == 0:
                row["familyName"] = f"{row['familyName'].split(' ~')[0]} ~{tag}"
            return row

        path = self.roster.with_name(f"roster-{tag}.zip")
        self.roster = rewrite_users(self.roster, path, rename)
        return self.roster

    async def load_directory(self) -> None:
        rows = await self.system.fetch(
            "sis_sync", "SELECT id, district_id, sis_id, role, school_ids FROM directory_user "
                        "WHERE district_id = $1 AND active ORDER BY sis_id", DISTRICT)
        self.users = [dict(r) for r in rows]
        self.students = [u for u in self.users if u["role"] == "student"]

    # --- people and settings ---------------------------------------------------------------
    async def grant(self, user: dict, permissions: dict) -> None:
        r = await _call(self.system.client, "PUT",
                        f"{self.system.url('sis_sync')}/api/v1/directory/users/{user['id']}/permissions",
                        json=permissions, headers=SYSTEM)
        assert r.status_code == 200, r.text

    async def enable(self) -> None:
        body = {"profile_update_requests_enabled": True, "notifications": {"daily_digest_enabled": True}}

        async def patched() -> bool:
            r = await self.system.client.patch(
                f"{self.system.url('settings')}/api/v1/districts/{DISTRICT}/settings", json=body, headers=SYSTEM)
            return r.status_code == 200

        await wait_until(patched, timeout=30, interval=0.2, message="the settings PATCH")

    # --- requests --------------------------------------------------------------------------
    async def submit(self, user: dict, key: str, replica: int = 0) -> int:
        """POST with an Idempotency-Key, retried with the same key until answered (201, or 200 replayed)."""
        r = await _call(self.system.client, "POST", f"{self.system.url('requests', replica)}/api/v1/requests",
                        json={"note": f"fault run {key}"}, headers={**person(user), "Idempotency-Key": key},
                        retry_on=(503,))
        assert r.status_code in (200, 201), r.text
        self.answers[key] = r.status_code
        self.request_ids[key] = r.json()["id"]
        return r.status_code

    async def stored(self) -> dict[str, str]:
        """Idempotency-Key -> request id, as the requests database holds them."""
        rows = await self.system.fetch("requests", "SELECT idempotency_key, id::text FROM request "
                                                   "WHERE idempotency_key IS NOT NULL")
        return {r[0]: r[1] for r in rows}

    async def act(self, manager: dict, request_id: str, action: str, replica: int = 0) -> dict:
        r = await _call(self.system.client, "POST",
                        f"{self.system.url('requests', replica)}/api/v1/requests/{request_id}/{action}",
                        headers=person(manager), retry_on=(503,))
        assert r.status_code == 200, r.text
        return r.json()

    async def digest(self, replica: int = 0, dry_run: bool = False) -> dict:
        r = await _call(self.system.client, "POST", f"{self.system.url('digest', replica)}/api/v1/digests/run",
                        json={"district_id": DISTRICT, "dry_run": dry_run}, headers=SYSTEM, retry_on=(503,))
        assert r.status_code == 200, r.text
        return r.json()


async def _call(client: httpx.AsyncClient, method: str, url: str, retry_on: tuple[int, ...] = (),
                **kwargs) -> httpx.Response:
    """One HTTP call, repeated while the service is unreachable (killed, restarting) or answers
    one of `retry_on`: what a well-behaved client does with a 503 and `Retry-After`."""
    deadline = time.monotonic() + ANSWER_WITHIN
    while True:
        try:
            r = await client.request(method, url, **kwargs)
            if r.status_code not in retry_on or time.monotonic() > deadline:
                return r
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def prepare(system: FaultSystem, tmp_path: Path, *, students: int, parents: int, staff: int,
                  schools: int = 3) -> District:
    """Import a roster, grant an admin and the Users Managers, enable the feature, and wait until
    the requests service accepts submissions."""
    roster = generate_roster(tmp_path / "roster-0.zip", schools=schools, students=students, parents=parents,
                             staff=staff, seed=11)
    district = District(system, roster)
    run = await district.import_roster(roster)
    assert run["status"] == "succeeded", run
    await district.load_directory()
    staff_members = [u for u in district.users if u["sis_id"].startswith("stf-")]
    district.admin = staff_members[0]
    await district.grant(district.admin, {"district_admin": True, "users_manager": None})
    district.managers = [staff_members[1]]
    await district.grant(staff_members[1], {"district_admin": False, "users_manager": {"scope": "district"}})
    school_ids = sorted({s for u in district.students for s in u["school_ids"]})
    for school, manager in zip(school_ids, staff_members[2:], strict=False):
        district.managers.append(manager)
        await district.grant(manager, {"district_admin": False,
                                       "users_manager": {"scope": "schools", "school_ids": [school]}})
    await district.enable()

    async def accepting() -> bool:
        enabled = await system.fetchval(
            "requests", "SELECT profile_update_requests_enabled FROM district_settings WHERE district_id = $1",
            DISTRICT)
        known = await system.fetchval("requests", "SELECT count(*) FROM directory_user WHERE district_id = $1",
                                      DISTRICT)
        return bool(enabled) and known >= len(district.users)

    await wait_until(accepting, timeout=60, interval=0.2, message="the requests service to see the feature on")
    return district
