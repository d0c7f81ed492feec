"""Handlers of the events sis_sync consumes (the subscription table is entrypoints/consumers.py)."""
from __future__ import annotations

from pur_contracts import DirectoryReplayRequested, DistrictSettingsChanged, SettingsReplayRequested
from pur_kit.consumer import Delivery
from pur_kit.inbox import claim_message, upsert_if_newer
from pur_kit.logging import current_correlation_id, get_logger
from pur_kit.outbox import add_event
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from ..adapters.event_sql import school_events_insert, user_events_insert
from ..adapters.orm import INBOX, OUTBOX, district_settings

log = get_logger(__name__)
CONSUMER = "sis_sync.main"

_REPLAY_USERS = text(
    user_events_insert("(SELECT * FROM directory_user WHERE CAST(:district AS text) IS NULL OR district_id = CAST(:district AS text))",
                       "CAST(:cid AS text)"))
_REPLAY_SCHOOLS = text(
    school_events_insert("(SELECT * FROM school WHERE CAST(:district AS text) IS NULL OR district_id = CAST(:district AS text))",
                         "CAST(:cid AS text)"))


class EventHandlers:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self.sessions = sessions

    async def district_settings_changed(self, event: DistrictSettingsChanged, delivery: Delivery) -> None:
        async with self.sessions.begin() as session:
            if not await claim_message(session, INBOX, CONSUMER, delivery.message_id):
                return
            await upsert_if_newer(session, district_settings, {
                "district_id": event.settings.district_id,
                "version": event.version,
                "contact_details_auto_update": event.settings.sis_sync.contact_details_auto_update,
                "updated_at": func.now(),
            }, key=["district_id"])

    async def directory_replay_requested(self, event: DirectoryReplayRequested, delivery: Delivery) -> None:
        """Republish every user and school (of one district, or all) at their current versions."""
        async with self.sessions.begin() as session:
            if not await claim_message(session, INBOX, CONSUMER, delivery.message_id):
                return
            params = {"district": event.district_id, "cid": delivery.correlation_id or current_correlation_id()}
            schools = (await session.execute(_REPLAY_SCHOOLS, params)).rowcount
            users = (await session.execute(_REPLAY_USERS, params)).rowcount
        log.info("directory_replayed", district_id=event.district_id, requested_by=event.requested_by,
                 users=users, schools=schools)

    async def request_settings_replay_if_empty(self) -> None:
        """On start: without any district settings, ask the settings service for all of them."""
        async with self.sessions.begin() as session:
            if (await session.execute(select(district_settings.c.district_id).limit(1))).first() is not None:
                return
            await add_event(session, OUTBOX, SettingsReplayRequested(district_id=None, requested_by="sis_sync"))
        log.info("settings_replay_requested")
