"""Exchange, queue, binding and dead-letter naming: the one place that knows them.

Every name is prefixed by a namespace (default ``pur``) so that a test run can own a fully
isolated topology on a shared broker and delete it afterwards.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from . import events as e

QueueType = Literal["classic", "quorum"]
# A queue's type is fixed when it is declared (redeclaring it with another x-queue-type fails), so
# quorum queues live under names of their own, next to the classic ones they replace: a running
# installation moves to them with `pur-queues migrate` (pur_kit.queues) while both exist.
QUORUM_SUFFIX = ".q"

# (consumer service, purpose) -> routing keys bound to that queue. Each service lists all of
# its subscriptions here; its consumers.py maps each event to a handler. Settings changes have a
# queue of their own in every service that follows them: enabling the feature must take effect
# within seconds even while a roster import has tens of thousands of directory events queued.
SUBSCRIPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("settings", "main"): (
        e.DirectoryUserUpserted.event_name,
        e.DirectoryUserDeactivated.event_name,
        e.SettingsReplayRequested.event_name,
    ),
    ("sis_sync", "settings"): (e.DistrictSettingsChanged.event_name,),
    ("sis_sync", "main"): (e.DirectoryReplayRequested.event_name,),
    ("requests", "settings"): (e.DistrictSettingsChanged.event_name,),
    ("requests", "main"): (
        e.DirectoryUserUpserted.event_name,
        e.DirectoryUserDeactivated.event_name,
        e.DirectorySchoolUpserted.event_name,
        e.RequestsReplayRequested.event_name,
    ),
    ("digest", "settings"): (e.DistrictSettingsChanged.event_name,),
    ("digest", "main"): (
        e.DirectoryUserUpserted.event_name,
        e.DirectoryUserDeactivated.event_name,
        e.DirectorySchoolUpserted.event_name,
        e.RequestSubmitted.event_name,
        e.RequestMarkedDone.event_name,
        e.RequestRestored.event_name,
        e.RequestAppearsAppliedChanged.event_name,
    ),
}

# producer service -> the events it publishes (through its outbox).
PUBLICATIONS: dict[str, tuple[type[e.Event], ...]] = {
    "settings": (e.DistrictSettingsChanged, e.DirectoryReplayRequested),
    "sis_sync": (
        e.DirectoryUserUpserted,
        e.DirectoryUserDeactivated,
        e.DirectorySchoolUpserted,
        e.SisSyncCompleted,
        e.SettingsReplayRequested,
    ),
    "requests": (
        e.RequestSubmitted,
        e.RequestMarkedDone,
        e.RequestRestored,
        e.RequestAppearsAppliedChanged,
        e.SettingsReplayRequested,
        e.DirectoryReplayRequested,
    ),
    "digest": (
        e.DigestSent,
        e.SettingsReplayRequested,
        e.DirectoryReplayRequested,
        e.RequestsReplayRequested,
    ),
}


@dataclass(frozen=True)
class Topology:
    namespace: str = "pur"
    queue_type: QueueType = "quorum"

    @property
    def exchange(self) -> str:
        """The durable topic exchange carrying every integration event."""
        return f"{self.namespace}.events"

    def queue(self, consumer: str, purpose: str = "main") -> str:
        """`<ns>.<consumer>.<purpose>`, with `.q` for a quorum queue (see QUORUM_SUFFIX)."""
        suffix = QUORUM_SUFFIX if self.queue_type == "quorum" else ""
        return f"{self.namespace}.{consumer}.{purpose}{suffix}"

    def classic_queue(self, consumer: str, purpose: str = "main") -> str:
        """The classic queue of this consumer: what a migration to quorum queues drains."""
        return f"{self.namespace}.{consumer}.{purpose}"

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}.dlq"

    @staticmethod
    def retry_queue(queue: str) -> str:
        """Holds a failed message for a delay, then dead-letters it back to ``queue``."""
        return f"{queue}.retry"

    def bindings(self, consumer: str, purpose: str = "main") -> tuple[str, ...]:
        return SUBSCRIPTIONS[(consumer, purpose)]

    def all_queues(self) -> list[str]:
        names = []
        for consumer, purpose in SUBSCRIPTIONS:
            q = self.queue(consumer, purpose)
            names += [q, self.dead_letter_queue(q), self.retry_queue(q)]
        return names

    def queues_of_every_type(self) -> list[str]:
        """The queue names of this namespace under both queue types: what a clean-up deletes, since
        processes configured with another QUEUE_TYPE may have declared the other kind."""
        return [name for kind in ("quorum", "classic")
                for name in dataclasses.replace(self, queue_type=kind).all_queues()]
