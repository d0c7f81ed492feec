"""Composition root of the requests service: the kit's runtime and this service's parts."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pur_kit.runtime import ServiceRuntime

from .adapters.repositories import Repositories
from .config import Settings
from .entrypoints.consumers import subscriptions
from .entrypoints.deps import VerifiedTokens
from .service_layer.projections import ProjectionHandlers, request_replays
from .service_layer.submission import SubmissionWriter

SERVICE = "requests"


@dataclass(frozen=True)
class Parts:
    """What this service adds to the kit's runtime; its entrypoints reach it as `runtime.parts`."""

    submissions: SubmissionWriter
    verified_tokens: VerifiedTokens
    handlers: ProjectionHandlers


def bootstrap(settings: Settings | None = None) -> ServiceRuntime[Parts]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, SERVICE, repositories=Repositories,
                             outbox_gather_seconds=settings.outbox_coalesce_ms / 1000)
    runtime.parts = Parts(
        submissions=SubmissionWriter(runtime.db, settings.submission_group_max),
        verified_tokens=VerifiedTokens(),
        handlers=ProjectionHandlers(),
    )
    runtime.subscribe(subscriptions(runtime.parts.handlers))
    runtime.on_broker_started.append(partial(request_replays, runtime.db.unit_of_work, only_for_empty=True))
    return runtime
