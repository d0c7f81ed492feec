"""In-memory repositories with the interface of adapters/repository.py, for the service layer's
unit tests under `pur_kit.testing.fakes.FakeUnitOfWork`."""
from __future__ import annotations

from uuid import UUID

from pur_contracts import Event
from pur_kit.testing.fakes import FakeUnitOfWork
from settings_service.domain.access import DirectoryRecord
from settings_service.domain.model import DistrictSettings


class FakeSettingsRepository:
    def __init__(self) -> None:
        self.rows: dict[str, DistrictSettings] = {}

    async def get(self, district_id: str) -> DistrictSettings:
        return self.rows.get(district_id, DistrictSettings(district_id))

    async def lock(self, district_id: str) -> DistrictSettings:
        return self.rows.setdefault(district_id, DistrictSettings(district_id))

    async def save(self, settings: DistrictSettings) -> None:
        self.rows[settings.district_id] = settings

    async def configured(self, district_id: str | None = None) -> list[DistrictSettings]:
        return sorted((s for s in self.rows.values()
                       if s.version > 0 and district_id in (None, s.district_id)), key=lambda s: s.district_id)


class FakeDirectoryRepository:
    def __init__(self) -> None:
        self.users: dict[UUID, tuple[int, DirectoryRecord]] = {}

    async def save_if_newer(self, user_id: UUID, version: int, record: DirectoryRecord) -> bool:
        if user_id in self.users and self.users[user_id][0] >= version:
            return False
        self.users[user_id] = (version, record)
        return True

    async def record(self, user_id: UUID) -> DirectoryRecord | None:
        return self.users[user_id][1] if user_id in self.users else None

    async def district_known(self, district_id: str) -> bool:
        return any(record.district_id == district_id for _, record in self.users.values())

    async def any_user(self) -> bool:
        return bool(self.users)


class FakeRepositories:
    def __init__(self) -> None:
        self.settings = FakeSettingsRepository()
        self.directory = FakeDirectoryRepository()


def unit_of_work() -> FakeUnitOfWork[FakeRepositories]:
    return FakeUnitOfWork(FakeRepositories(), consumer="settings.main")


async def deliver(handler, event: Event, uow: FakeUnitOfWork, message_id: str | None = None) -> None:
    """What the kit's runtime does with a delivery: claim it, hand it to the handler, commit."""
    async with uow:
        if await uow.claim(message_id or str(event.event_id)):
            await handler(event, uow)
            await uow.commit()
