"""`pur-sis-sync` with every import held inside its apply transaction, for the crash test:

    python paused_cli.py import roster.zip --district X --no-progress

Writing the run's events is the last statement before COMMIT (`ImportPipeline._apply`), so the run
waits right after it, with every write done and nothing committed, once it has printed PAUSED to
stderr; the test then kills the process.
"""
from __future__ import annotations

import asyncio
import sys

from sis_sync_service.entrypoints.cli import main
from sis_sync_service.service_layer import imports

PAUSED = "paused_before_commit"
add_events = imports.add_events_asyncpg


async def add_events_then_wait(conn, events, correlation_id) -> None:
    await add_events(conn, events, correlation_id)
    print(PAUSED, file=sys.stderr, flush=True)
    await asyncio.sleep(120)


if __name__ == "__main__":
    imports.add_events_asyncpg = add_events_then_wait
    sys.exit(main())
