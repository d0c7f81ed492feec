"""Composition root: the kit's runtime (engine, broker, consumers, relay) plus the run pool, the
SMTP pool, the runner and the scheduler loop. Nothing connects until `start`."""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pur_kit.runtime import ServiceRuntime

from .adapters.db import Database
from .adapters.render import DigestRenderer, Links
from .adapters.smtp import Mailer, SmtpOptions
from .config import Settings
from .domain.delivery import RetryPolicy
from .entrypoints.consumers import subscriptions
from .service_layer.projections import ProjectionHandlers
from .service_layer.runner import DigestRunner
from .service_layer.scheduler import Scheduler

SERVICE = "digest"


def system_clock() -> datetime:
    return datetime.now(UTC)


def build_runner(settings: Settings, clock: Callable[[], datetime] = system_clock,
                 owner: str | None = None) -> DigestRunner:
    """The run machinery alone (run pool, SMTP pool, templates): what the CLI needs."""
    return DigestRunner(
        Database(settings.database_url, settings.run_pool_size),
        Mailer(SmtpOptions.from_settings(settings), settings.smtp_connections),
        DigestRenderer(settings.mail_from, Links(settings.public_base_url, settings.settings_public_url)),
        clock=clock, owner=owner or process_owner(),
        policy=RetryPolicy(settings.max_attempts, timedelta(seconds=settings.retry_backoff_seconds),
                           timedelta(seconds=settings.retry_backoff_max_seconds)),
        max_listed=settings.max_listed_requests, concurrency=settings.send_concurrency,
        claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        run_lease=timedelta(seconds=settings.run_lease_seconds),
    )


def process_owner() -> str:
    """Names this process in run leases (which replica holds a district's scheduled run)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DigestRuntime(ServiceRuntime):
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = system_clock) -> None:
        super().__init__(settings, SERVICE)
        self.clock = clock
        self.owner = process_owner()
        self.runner = build_runner(settings, clock, self.owner)
        self.db, self.mailer, self.renderer = self.runner.db, self.runner.mailer, self.runner.renderer
        self.scheduler = Scheduler(
            self.db, self.runner, clock=clock, owner=self.owner, grace=timedelta(hours=settings.grace_hours),
            run_lease=timedelta(seconds=settings.run_lease_seconds), tick_seconds=settings.scheduler_tick_seconds,
        )
        self.handlers = ProjectionHandlers(self.sessions, self.db)
        self.add_consumers(subscriptions(self.handlers))
        self.on_broker_started.append(self.handlers.request_replays_if_empty)
        if settings.scheduler_enabled:
            self.loops.append(self.scheduler.run_forever)

    async def start(self) -> None:
        await self.db.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.mailer.close()
        await self.db.close()


def build_runtime(settings: Settings | None = None, clock: Callable[[], datetime] = system_clock) -> DigestRuntime:
    return DigestRuntime(settings or Settings(), clock)
