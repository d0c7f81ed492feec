"""The service's repositories over one connection: what a unit of work offers as `uow.repos`."""
from __future__ import annotations

import asyncpg

from .directory_repo import SettingsProjection, DirectoryUsers, Schools
from .run_store import ImportRuns


class Repositories:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.users = DirectoryUsers(conn)
        self.schools = Schools(conn)
        self.settings = SettingsProjection(conn)
        self.runs = ImportRuns(conn)
