"""Event contracts: frozen pydantic models, routing keys and the queue naming."""
from .base import DISTRICT_ID_PATTERN, DistrictId, Event, Frozen, utcnow
from .events import *  # noqa: F403 - the models are this package's public surface
from .events import ALL_EVENTS, EVENTS_BY_NAME
from .topology import PUBLICATIONS, SUBSCRIPTIONS, Topology

__all__ = ["DISTRICT_ID_PATTERN", "DistrictId", "ALL_EVENTS", "EVENTS_BY_NAME", "PUBLICATIONS", "SUBSCRIPTIONS", "Event", "Frozen", "Topology", "utcnow"]
