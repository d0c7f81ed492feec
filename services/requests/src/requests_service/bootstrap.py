"""Composition root: the runtime (engine, broker, consumers, relay) plus the API's asyncpg pool."""
from __future__ import annotations

from pur_kit.runtime import ServiceRuntime

from .adapters.db import Database
from .config import Settings
from .entrypoints.consumers import subscriptions
from .service_layer.projections import ProjectionHandlers

SERVICE = "requests"


class RequestsRuntime(ServiceRuntime):
    """The kit's runtime, which also opens and closes the HTTP paths' database pool."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, SERVICE, outbox_gather_seconds=settings.outbox_coalesce_ms / 1000)
        self.db = Database(settings.database_url, settings.api_pool_size, on_events_committed=self.relay.wake)
        self.handlers = ProjectionHandlers(self.sessions, on_events_committed=self.relay.wake)
        self.add_consumers(subscriptions(self.handlers))
        self.on_broker_started.append(self.handlers.request_replays_if_empty)

    async def start(self) -> None:
        await self.db.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.db.close()


def build_runtime(settings: Settings | None = None) -> RequestsRuntime:
    return RequestsRuntime(settings or Settings())
