"""`pur-requests serve | migrate | request-replays`."""
from __future__ import annotations

import argparse
import asyncio

from pur_kit import cli
from pur_kit.logging import configure_logging

from ..bootstrap import bootstrap
from ..config import Settings
from ..service_layer import projections


async def migrate(settings: Settings) -> None:
    await cli.migrate(cli.find_service_dir(__file__, "requests"), settings.database_url)


async def request_replays(settings: Settings) -> None:
    """Ask settings and sis_sync to republish their state (e.g. after restoring a backup)."""
    db = bootstrap(settings).db
    await db.start()
    try:
        await projections.request_replays(db.unit_of_work, only_for_empty=False)
    finally:
        await db.close()
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
