"""Composition root of the digest service: the kit's runtime and this service's parts."""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pur_kit.auth import PurposeTokens
from pur_kit.runtime import ServiceRuntime

from .adapters.render import DigestRenderer, Links
from .adapters.repositories import Repositories
from .adapters.smtp import Mailer, SmtpOptions
from .config import Settings
from .domain.delivery import RetryPolicy
from .domain.subscription import UNSUBSCRIBE_PURPOSE
from .entrypoints.consumers import subscriptions
from .service_layer.digests import DigestRuns
from .service_layer.projections import ProjectionHandlers
from .service_layer.runner import DigestRunner
from .service_layer.scheduler import Scheduler
from .service_layer.subscriptions import DigestSubscriptions

SERVICE = "digest"
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def process_owner() -> str:
    """Names this process in run leases (which replica holds a district's scheduled run)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Parts:
    """What this service adds to the kit's runtime; its entrypoints reach it as `runtime.parts`."""

    handlers: ProjectionHandlers
    mailer: Mailer
    runner: DigestRunner
    scheduler: Scheduler
    digests: DigestRuns
    subscriptions: DigestSubscriptions


def bootstrap(settings: Settings | None = None, clock: Clock = system_clock) -> ServiceRuntime[Parts]:
    """`clock`: the time of the schedule, claims and retries (tests walk it through the year)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, SERVICE, repositories=Repositories)
    unit_of_work, owner = runtime.db.unit_of_work, process_owner()
    mailer = Mailer(SmtpOptions.from_settings(settings), settings.smtp_connections)
    # No expiry: a digest kept for months must still unsubscribe (a mail client's one-click POST
    # shows the person no error), and all the token can do is this harmless, reversible opt-out.
    unsubscribe_tokens = PurposeTokens(settings.jwt_secret, UNSUBSCRIBE_PURPOSE)
    links = Links(settings.public_base_url, settings.settings_public_url, settings.public_api_url, unsubscribe_tokens)
    runner = DigestRunner(
        unit_of_work, runtime.db.repositories, mailer,
        DigestRenderer(settings.mail_from, links),
        events_committed=runtime.db.events_committed, clock=clock, owner=owner,
        policy=RetryPolicy(settings.max_attempts, timedelta(seconds=settings.retry_backoff_seconds),
                           timedelta(seconds=settings.retry_backoff_max_seconds)),
        max_listed=settings.max_listed_requests, concurrency=settings.send_concurrency,
        claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        run_lease=timedelta(seconds=settings.run_lease_seconds),
    )
    scheduler = Scheduler(
        unit_of_work, runner, clock=clock, owner=owner, grace=timedelta(hours=settings.grace_hours),
        run_lease=timedelta(seconds=settings.run_lease_seconds), tick_seconds=settings.scheduler_tick_seconds,
    )
    runtime.parts = Parts(handlers=ProjectionHandlers(unit_of_work), mailer=mailer, runner=runner,
                          scheduler=scheduler, digests=DigestRuns(unit_of_work, runner, clock),
                          subscriptions=DigestSubscriptions(unit_of_work, unsubscribe_tokens, clock))
    runtime.subscribe(subscriptions(runtime.parts.handlers))
    runtime.on_broker_started.append(runtime.parts.handlers.request_replays_if_empty)
    if settings.scheduler_enabled:
        runtime.loops.append(scheduler.run_forever)
    runtime.on_stop.append(mailer.close)
    return runtime
