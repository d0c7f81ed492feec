"""Composition root of the requests service: the kit's runtime and this service's parts."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pur_kit.runtime import ServiceRuntime

from .adapters.peers import Peers
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
    peers: Peers


def bootstrap(settings: Settings | None = None) -> ServiceRuntime[Parts]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, SERVICE, repositories=Repositories,
                             outbox_gather_seconds=settings.outbox_coalesce_ms / 1000)
    runtime.parts = Parts(
        submissions=SubmissionWriter(runtime.db, settings.submission_group_max),
        verified_tokens=VerifiedTokens(),
        handlers=ProjectionHandlers(),
        peers=Peers({"settings": settings.settings_api_url, "directory": settings.directory_api_url,
                     "digest": settings.digest_api_url}, timeout_seconds=settings.peer_timeout_seconds),
    )
    runtime.subscribe(subscriptions(runtime.parts.handlers))
    runtime.on_broker_started.append(partial(request_replays, runtime.db.unit_of_work, only_for_empty=True))
    runtime.on_stop.append(runtime.parts.peers.close)
    return runtime
