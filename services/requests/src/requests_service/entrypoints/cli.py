"""`pur-requests serve | migrate | request-replays`."""
from __future__ import annotations

import argparse
import asyncio

from pur_kit import cli
from pur_kit.logging import configure_logging

from ..config import Settings


async def migrate(settings: Settings) -> None:
    await cli.migrate(cli.find_service_dir(__file__, "requests"), settings.database_url)


async def request_replays(settings: Settings) -> None:
    """Ask settings and sis_sync to republish their state (e.g. after restoring a backup)."""
    from pur_contracts import DirectoryReplayRequested, SettingsReplayRequested
    from pur_kit.db import make_engine, make_sessionmaker
    from pur_kit.outbox import add_events

    from ..adapters.orm import OUTBOX

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine).begin() as session:
            await add_events(session, OUTBOX, [SettingsReplayRequested(district_id=None, requested_by="requests"),
                                               DirectoryReplayRequested(district_id=None, requested_by="requests")])
    finally:
        await engine.dispose()
    print("replay requests written to the outbox; a running service publishes them")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pur-requests", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="migrate the database, then serve HTTP, consume events and relay the outbox")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    sub.add_parser("request-replays", help="ask the settings and directory owners to republish their state")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("requests", settings.log_level)
    if args.command == "serve":
        return cli.serve("requests_service.entrypoints.app:create_app", settings,
                         cli.find_service_dir(__file__, "requests"))
    elif args.command == "migrate":
        asyncio.run(migrate(settings))
    else:
        asyncio.run(request_replays(settings))
    return 0
