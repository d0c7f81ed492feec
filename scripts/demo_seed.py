"""Seed the demo district through the services' public APIs (idempotent: a seeded district is
left as it is). Used by `make run` and the `demo-seed` compose service.

    python scripts/demo_seed.py            # URLs from SEED_*_URL, defaults to the local ports
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pur_kit.auth import mint_token
from pur_kit.config import DEV_JWT_SECRET

DISTRICT = os.environ.get("SEED_DISTRICT", "springfield")
URLS = {
    "requests": os.environ.get("SEED_REQUESTS_URL", "http://127.0.0.1:8000"),
    "settings": os.environ.get("SEED_SETTINGS_URL", "http://127.0.0.1:8001"),
    "digest": os.environ.get("SEED_DIGEST_URL", "http://127.0.0.1:8002"),
    "sis_sync": os.environ.get("SEED_SIS_SYNC_URL", "http://127.0.0.1:8003"),
}
SECRET = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
SYSTEM = {"Authorization": f"Bearer {mint_token(SECRET, sub='system', system=True, ttl_seconds=3600)}"}


def person(user: dict) -> dict:
    token = mint_token(SECRET, sub=user["id"], district_id=DISTRICT, ttl_seconds=3600)
    return {"Authorization": f"Bearer {token}"}


def users(client: httpx.Client, **filters) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"district_id": DISTRICT, "limit": 200, **filters}
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"{URLS['sis_sync']}/api/v1/directory/users", params=params, headers=SYSTEM)
        r.raise_for_status()
        body = r.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise SystemExit(f"demo seed: timed out waiting for {what}")


def import_roster(client: httpx.Client) -> None:
    from sis_sync_service.adapters.oneroster.generator import generate_roster

    with tempfile.TemporaryDirectory() as tmp:
        roster = generate_roster(Path(tmp) / "springfield.zip", schools=4, students=240, parents=180, staff=40, seed=7)
        with roster.open("rb") as f:
            r = client.post(f"{URLS['sis_sync']}/api/v1/districts/{DISTRICT}/sis-imports",
                            files={"file": ("springfield.zip", f, "application/zip")}, headers=SYSTEM)
    r.raise_for_status()
    run_id = r.json()["id"]

    def finished():
        run = client.get(f"{URLS['sis_sync']}/api/v1/sis-imports/{run_id}", headers=SYSTEM).json()
        return run if run["status"] in ("succeeded", "failed") else None

    run = wait_for("the roster import", finished, 120)
    if run["status"] != "succeeded":
        raise SystemExit(f"demo seed: roster import failed: {run['errors'][:3]}")
    print(f"demo seed: imported roster: {run['counts']}")


def grant(client: httpx.Client, user: dict, permissions: dict) -> None:
    r = client.put(f"{URLS['sis_sync']}/api/v1/directory/users/{user['id']}/permissions", json=permissions,
                   headers=SYSTEM)
    r.raise_for_status()


def pick_cast(client: httpx.Client) -> dict[str, dict]:
    """The demo's staff: the first two staff members by SIS id, then one single-school staff
    member for each of two different schools."""
    staff = sorted((u for u in users(client) if u["role"] not in ("student", "parent", "guardian", "relative")),
                   key=lambda u: u["sis_id"])
    cast = {"district admin": staff[0], "district Users Manager": staff[1]}
    taken_schools: set[str] = set()
    for user in staff[2:]:
        if len(user["school_ids"]) == 1 and user["school_ids"][0] not in taken_schools:
            label = "school Users Manager (A)" if not taken_schools else "school Users Manager (B)"
            cast[label] = user
            taken_schools.add(user["school_ids"][0])
            if len(taken_schools) == 2:
                break
    return cast


def seed(client: httpx.Client) -> dict[str, dict]:
    """Every step is skipped when already done, so a half-finished seed completes on the next run."""
    if not users(client):
        import_roster(client)
    cast = pick_cast(client)
    grant(client, cast["district admin"], {"district_admin": True, "users_manager": None})
    grant(client, cast["district Users Manager"], {"district_admin": False, "users_manager": {"scope": "district"}})
    for label in ("school Users Manager (A)", "school Users Manager (B)"):
        user = cast[label]
        grant(client, user, {"district_admin": False,
                             "users_manager": {"scope": "schools", "school_ids": user["school_ids"]}})
    settings_url = f"{URLS['settings']}/api/v1/districts/{DISTRICT}/settings"
    # Settings exist once the settings service has consumed the imported directory (404 until then).
    current = wait_for("the settings service to know the district",
                       lambda: (r := client.get(settings_url, headers=SYSTEM)).status_code == 200 and r.json(), 60)
    if not current.get("profile_update_requests_enabled"):
        client.patch(settings_url, json={"profile_update_requests_enabled": True}, headers=SYSTEM).raise_for_status()
        print("demo seed: enabled Profile Update Requests")
    manager = person(cast["district Users Manager"])

    def manager_sees_the_district() -> bool:
        return client.get(f"{URLS['requests']}/api/v1/requests", params={"status": "all"},
                          headers=manager).status_code == 200

    wait_for("the requests service to know the Users Manager", manager_sees_the_district, 60)
    existing = client.get(f"{URLS['requests']}/api/v1/requests", params={"status": "all"}, headers=manager).json()
    if existing["items"]:
        return cast
    managed = {s for label, u in cast.items() if label.startswith("school") for s in u["school_ids"]}
    students = [u for u in users(client, role="student") if set(u["school_ids"]) & managed]
    requesters = students[:4] + users(client, role="parent")[:2]
    changes = [
        {"changes": {"email": "new.address@example.org"}, "note": "I changed my email address."},
        {"changes": {"phone": "+15555550123"}},
        {"changes": {"family_name": "Smith-Jones"}, "note": "Married last summer."},
        {"changes": {"sms": "+15555550199", "phone": "+15555550198"}},
        {"note": "My middle name is missing."},
        {"changes": {"given_name": "Kate"}},
    ]
    for user, body in zip(requesters, changes, strict=False):
        def submitted(user=user, body=body):
            r = client.post(f"{URLS['requests']}/api/v1/requests", json=body, headers=person(user))
            return r.status_code in (200, 201)
        wait_for("the requests service to see the district", submitted, 60)
    print(f"demo seed: submitted {len(requesters)} requests")
    return cast


def main() -> int:
    with httpx.Client(timeout=30) as client:
        cast = seed(client)
    print("\nDemo logins (pick them on the login page):")
    for label, user in cast.items():
        print(f"  {label:<26} {user['given_name']} {user['family_name']}  (id {user['id']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
