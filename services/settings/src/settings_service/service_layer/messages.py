"""Handlers of consumed events (the subscription table is entrypoints/consumers.py) and the
startup replay request.

Each handler is one transaction that first claims the message in the inbox, so a redelivery stops
there; the directory projection is version-gated, so reordered events end on the newest version.
"""
from __future__ import annotations

from pur_contracts import (
    DirectoryReplayRequested,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    SettingsReplayRequested,
)
from pur_kit.consumer import Delivery
from pur_kit.inbox import claim_message, upsert_if_newer
from pur_kit.logging import get_logger
from pur_kit.outbox import add_event, add_events
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from ..adapters.orm import CONSUMER, INBOX, OUTBOX, directory_user
from ..adapters.repository import SettingsRepository
from .events import settings_changed

log = get_logger(__name__)


class MessageHandlers:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self.sessions = sessions

    async def user_changed(self, event: DirectoryUserUpserted | DirectoryUserDeactivated,
                           delivery: Delivery) -> None:
        """Keep who is an active district administrator of which district."""
        user = event.user
        active = user.active and not isinstance(event, DirectoryUserDeactivated)
        async with self.sessions.begin() as session:
            if not await claim_message(session, INBOX, CONSUMER, delivery.message_id):
                return
            await upsert_if_newer(session, directory_user, {
                "id": user.id, "district_id": user.district_id, "version": event.version,
                "active": active, "district_admin": user.permissions.district_admin,
            }, ["id"])

    async def replay_requested(self, event: SettingsReplayRequested, delivery: Delivery) -> None:
        """Republish the current snapshot of every configured district (or the one asked for).

        Consumers version-gate, so a snapshot they already have is harmless; a never-configured
        district has nothing to publish (everyone reads it as the defaults).
        """
        async with self.sessions.begin() as session:
            if not await claim_message(session, INBOX, CONSUMER, delivery.message_id):
                return
            current = await SettingsRepository(session).configured(event.district_id)
            await add_events(session, OUTBOX, [settings_changed(s) for s in current])
        log.info("settings_replayed", district_id=event.district_id, requested_by=event.requested_by,
                 districts=len(current))

    async def request_directory_replay_if_empty(self) -> bool:
        """On start: without any directory user, ask the directory owner to republish them all."""
        async with self.sessions.begin() as session:
            if (await session.execute(select(directory_user.c.id).limit(1))).first() is not None:
                return False
            await add_event(session, OUTBOX, DirectoryReplayRequested(district_id=None, requested_by="settings"))
        log.info("directory_replay_requested")
        return True
