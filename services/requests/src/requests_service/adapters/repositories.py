"""This service's repositories over one database connection: `uow.repos` in the service layer
(`pur_kit.uow.Database(repositories=Repositories)`)."""
from __future__ import annotations

import asyncpg

from .projection_store import ProjectionRepository
from .request_store import RequestRepository


class Repositories:
    """Built by the kit for every unit of work (and by the submission writer for its connection)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.requests = RequestRepository(conn)
        self.projections = ProjectionRepository(conn)
