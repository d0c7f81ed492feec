"""`pur-sis-sync` with every import held inside its apply transaction, for the crash test:

    python paused_cli.py import roster.zip --district X --no-progress

Writing the run's events is the last statement before COMMIT (`ImportPipeline._apply`), so the run
waits right after it, with every write done and nothing committed, once it has printed PAUSED to
stderr; the test then kills the process.
"""
from __future__ import annotations

import asyncio
import sys

from pur_contracts import SisSyncCompleted
from sis_sync_service.entrypoints.cli import main
from sis_sync_service.service_layer import imports

PAUSED = "paused_before_commit"
write_events = imports.write_events


async def write_events_then_wait(conn, events, correlation_id=None) -> None:
    await write_events(conn, events, correlation_id)
    if any(isinstance(e, SisSyncCompleted) and e.status == "succeeded" for e in events):
        print(PAUSED, file=sys.stderr, flush=True)
        await asyncio.sleep(120)


if __name__ == "__main__":
    imports.write_events = write_events_then_wait
    sys.exit(main())
