"""In-memory repositories with the interface of the real ones (adapters/directory_repo.py,
adapters/run_store.py), for the service layer's unit tests with `pur_kit.testing.fakes.FakeUnitOfWork`."""
from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

from pur_kit.testing.fakes import FakeUnitOfWork

NO_PERMISSIONS = {"district_admin": False, "users_manager": None}


def user_row(district_id: str = "springfield", sis_id: str = "S-1", **values) -> dict:
    """A directory_user row as the database returns it."""
    row = {"id": uuid4(), "district_id": district_id, "sis_id": sis_id, "role": "student", "given_name": "Ada",
           "family_name": "Byron", "email": "ada@example.org", "phone": None, "sms": None, "school_ids": ["s1"],
           "agent_sis_ids": [], "active": True, "permissions": dict(NO_PERMISSIONS), "email_self_edited": False,
           "phone_self_edited": False, "sms_self_edited": False, "contact_self_edited_at": None, "version": 1}
    return {**row, **values}


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[UUID, dict] = {}

    def add(self, **values) -> dict:
        row = user_row(**values)
        self.rows[row["id"]] = row
        return row

    async def get(self, user_id: UUID, *, for_update: bool = False) -> dict | None:
        return self.rows.get(user_id)

    async def get_by_sis_id(self, district_id: str, sis_id: str, *, for_update: bool = False) -> dict | None:
        return next((r for r in self.rows.values() if (r["district_id"], r["sis_id"]) == (district_id, sis_id)), None)

    async def set_permissions(self, user_id: UUID, permissions: dict) -> dict:
        return self._update(user_id, permissions=permissions)

    async def set_own_contact(self, user_id: UUID, values: dict[str, str | None]) -> dict:
        marks = {f"{f}_self_edited": True for f in values}
        return self._update(user_id, **values, **marks, contact_self_edited_at="now")

    async def in_batches(self, district_id: str | None) -> AsyncIterator[list[dict]]:
        rows = sorted((r for r in self.rows.values() if district_id is None or r["district_id"] == district_id),
                      key=lambda r: (r["district_id"], r["sis_id"]))
        for start in range(0, len(rows), 2):
            yield rows[start:start + 2]

    def _update(self, user_id: UUID, **values) -> dict:
        row = self.rows[user_id] = {**self.rows[user_id], **values, "version": self.rows[user_id]["version"] + 1}
        return row


class FakeSchools:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, district_id: str, school_id: str, active: bool = True) -> None:
        self.rows.append({"district_id": district_id, "id": school_id, "name": f"School {school_id}",
                          "active": active, "version": 1})

    async def active_ids(self, district_id: str) -> set[str]:
        return {r["id"] for r in self.rows if r["district_id"] == district_id and r["active"]}

    async def all(self, district_id: str | None) -> list[dict]:
        return [r for r in self.rows if district_id is None or r["district_id"] == district_id]


class FakeSettings:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, bool]] = {}  # district -> (version, contact auto update)

    async def contact_auto_update(self, district_id: str) -> bool:
        return self.rows.get(district_id, (0, True))[1]

    async def save_if_newer(self, district_id: str, version: int, contact_auto_update: bool) -> None:
        if district_id not in self.rows or self.rows[district_id][0] < version:
            self.rows[district_id] = (version, contact_auto_update)

    async def any(self) -> bool:
        return bool(self.rows)


class FakeRuns:
    def __init__(self) -> None:
        self.rows: dict[UUID, dict] = {}
        self.owned: set[UUID] = set()  # runs a live process holds the lock of
        self.cancels: dict[UUID, str] = {}

    def add(self, district_id: str = "springfield", status: str = "running", owned: bool = True) -> UUID:
        run_id = uuid4()
        self.rows[run_id] = {"district_id": district_id, "status": status, "failure": None}
        if owned:
            self.owned.add(run_id)
        return run_id

    async def unowned(self, run_id: UUID) -> bool:
        return run_id not in self.owned

    async def active_ids(self, district_id: str | None = None) -> list[UUID]:
        return [i for i, r in self.rows.items()
                if r["status"] in ("queued", "running") and district_id in (None, r["district_id"])]

    async def note_cancel(self, run_id: UUID, by: str) -> bool:
        run = self.rows.get(run_id)
        if run is None or run["status"] not in ("queued", "running"):
            return False
        self.cancels.setdefault(run_id, by)
        return True

    async def mark_failed(self, run_id: UUID, failure: str, counts: dict, **_) -> str | None:
        run = self.rows.get(run_id)
        if run is None or run["status"] not in ("queued", "running"):
            return None
        run.update(status="failed", failure=failure, counts=counts)
        return run["district_id"]


class FakeRepositories:
    def __init__(self) -> None:
        self.users = FakeUsers()
        self.schools = FakeSchools()
        self.settings = FakeSettings()
        self.runs = FakeRuns()


def unit_of_work() -> FakeUnitOfWork[FakeRepositories]:
    return FakeUnitOfWork(FakeRepositories(), consumer="sis_sync.main")
