"""Handlers of consumed events (the subscription table is entrypoints/consumers.py) and the
start-up replay request.

The kit runs each handler in a unit of work that has claimed the delivery in the inbox, so a
redelivery never reaches it, and commits after it returns; the directory projection is
version-gated, so reordered events end on the newest version.
"""
from __future__ import annotations


from pur_contracts import (
    DirectoryReplayRequested,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    SettingsReplayRequested,
)
from pur_kit.logging import get_logger
from pur_kit.uow import UnitOfWork, UnitOfWorkFactory

from ..adapters.repository import Repositories
from ..domain.access import DirectoryRecord
from .events import settings_changed

log = get_logger(__name__)

class MessageHandlers:
    """What this service does with the messages it consumes, and what it asks for on start.

    `unit_of_work` opens a unit of work (`Database.unit_of_work`) for the start-up request, which
    no delivery opens one for.
    """

    def __init__(self, unit_of_work: UnitOfWorkFactory[Repositories]) -> None:
        self.unit_of_work = unit_of_work

    async def user_changed(self, event: DirectoryUserUpserted | DirectoryUserDeactivated,
                           uow: UnitOfWork[Repositories]) -> None:
        """Keep who is an active district administrator of which district."""
        user = event.user
        active = user.active and not isinstance(event, DirectoryUserDeactivated)
        await uow.repos.directory.save_if_newer(
            user.id, event.version, DirectoryRecord(user.district_id, active, user.permissions.district_admin))

    async def replay_requested(self, event: SettingsReplayRequested, uow: UnitOfWork[Repositories]) -> None:
        """Republish the current snapshot of every configured district (or the one asked for).

        Consumers version-gate, so a snapshot they already have is harmless; a never-configured
        district has nothing to publish (everyone reads it as the defaults).
        """
        current = await uow.repos.settings.configured(event.district_id)
        uow.publish_all(settings_changed(s) for s in current)
        log.info("settings_replayed", district_id=event.district_id, requested_by=event.requested_by,
                 districts=len(current))

    async def request_directory_replay_if_empty(self) -> bool:
        """On start: without any directory user, ask the directory owner to republish them all."""
        async with self.unit_of_work() as uow:
            if await uow.repos.directory.any_user():
                return False
            uow.publish(DirectoryReplayRequested(district_id=None, requested_by="settings"))
            await uow.commit()
        log.info("directory_replay_requested")
        return True
