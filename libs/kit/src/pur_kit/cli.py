"""What every service's CLI shares: finding its migration history, migrating, serving.

`serve` migrates before it listens, so an instance never answers on a schema older than its code;
`upgrade` takes an advisory lock, so instances starting together migrate once.
"""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Protocol

from .migrations import ensure_database, upgrade


class ServeSettings(Protocol):
    migration_url: str  # PostgreSQL itself when the service runs behind a pooler
    http_host: str
    http_port: int


def find_service_dir(cli_file: str, service: str) -> Path:
    """The service's directory (alembic.ini, migrations/): next to the sources of an editable
    install (`cli_file` is the CLI's `__file__`), or the working directory."""
    for candidate in (Path(cli_file).resolve().parents[3], Path.cwd()):
        if (candidate / "alembic.ini").is_file() and (candidate / "migrations").is_dir():
            return candidate
    raise SystemExit(f"cannot find services/{service}/alembic.ini: run from the service directory")


async def migrate(service_dir: Path, database_url: str) -> None:
    await ensure_database(database_url)
    await upgrade(service_dir, database_url)


def serve(app_factory: str, settings: ServeSettings, service_dir: Path) -> int:
    """Migrate, then run `app_factory` ("module:create_app") in one uvicorn worker; logging is the
    service's own (`configure_logging`), uvicorn's access log stays off."""
    import uvicorn

    # uvicorn finishes the requests in flight and runs the app's shutdown on SIGTERM/SIGINT, then
    # restores the handlers it found and raises the signal again: these make that a clean exit (0),
    # so an orchestrator can tell a finished graceful stop from a process killed by a signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    asyncio.run(migrate(service_dir, settings.migration_url))
    uvicorn.run(app_factory, factory=True, host=settings.http_host, port=settings.http_port, loop="uvloop",
                http="httptools", log_config=None, access_log=False, workers=1)
    return 0


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)
