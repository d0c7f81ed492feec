"""Handlers of the events sis_sync consumes (the subscription table is entrypoints/consumers.py) and
the start-up settings replay request.

The kit runs each handler in a unit of work that has claimed the delivery in the inbox, so a
redelivery never reaches it, and commits after it returns.
"""
from __future__ import annotations


from pur_contracts import DirectoryReplayRequested, DistrictSettingsChanged, SettingsReplayRequested
from pur_kit.logging import get_logger
from pur_kit.uow import UnitOfWork, UnitOfWorkFactory

from ..adapters.directory_repo import school_event, user_event
from ..adapters.repositories import Repositories

log = get_logger(__name__)

class MessageHandlers:
    """What this service does with the messages it consumes, and what it asks for on start.

    `unit_of_work` opens a unit of work (`Database.unit_of_work`) for the start-up request, which
    no delivery opens one for.
    """

    def __init__(self, unit_of_work: UnitOfWorkFactory[Repositories]) -> None:
        self.unit_of_work = unit_of_work

    async def district_settings_changed(self, event: DistrictSettingsChanged, uow: UnitOfWork[Repositories]) -> None:
        """Keep each district's `contact_details_auto_update` (version-gated: an older event changes nothing)."""
        await uow.repos.settings.save_if_newer(event.settings.district_id, event.version,
                                               event.settings.sis_sync.contact_details_auto_update)

    async def directory_replay_requested(self, event: DirectoryReplayRequested,
                                         uow: UnitOfWork[Repositories]) -> None:
        """Republish every school and user (of one district, or all) at their current versions.

        Users are read and written a batch at a time, so a district of any size keeps memory flat."""
        schools = await uow.repos.schools.all(event.district_id)
        uow.publish_all(school_event(row) for row in schools)
        users = 0
        async for batch in uow.repos.users.in_batches(event.district_id):
            uow.publish_all(user_event(row) for row in batch)
            await uow.flush()
            users += len(batch)
        log.info("directory_replayed", district_id=event.district_id, requested_by=event.requested_by,
                 users=users, schools=len(schools))

    async def request_settings_replay_if_empty(self) -> bool:
        """On start: without any district settings, ask the settings service for all of them."""
        async with self.unit_of_work() as uow:
            if await uow.repos.settings.any():
                return False
            uow.publish(SettingsReplayRequested(district_id=None, requested_by="sis_sync"))
            await uow.commit()
        log.info("settings_replay_requested")
        return True
