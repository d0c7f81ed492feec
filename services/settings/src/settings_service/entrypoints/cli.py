"""`pur-settings serve | migrate | show <district_id>`."""
from __future__ import annotations

import argparse
import asyncio

from pur_kit import cli
from pur_kit.logging import configure_logging

from .. import views
from ..bootstrap import bootstrap
from ..config import Settings
from ..domain.model import UnknownDistrict
from ..service_layer.events import snapshot


async def migrate(settings: Settings) -> None:
    await cli.migrate(cli.find_service_dir(__file__, "settings"), settings.database_url)


async def show(settings: Settings, district_id: str) -> str:
    """The district's settings as the API returns them (the defaults when never configured); exits
    with a message for a district no roster was imported for."""
    db = bootstrap(settings).db
    await db.start()
    try:
        current = await views.district_settings(db, district_id)
    except UnknownDistrict as exc:
        raise SystemExit(f"{district_id}: {exc}") from None
    finally:
        await db.close()
    return snapshot(current).model_dump_json(indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pur-settings", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="migrate the database, then serve HTTP, consume events and relay the outbox")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    show_parser = sub.add_parser("show", help="print a district's settings as JSON")
    show_parser.add_argument("district_id")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("settings", settings.log_level)
    if args.command == "serve":
        return cli.serve("settings_service.entrypoints.app:create_app", settings,
                         cli.find_service_dir(__file__, "settings"))
    elif args.command == "migrate":
        asyncio.run(migrate(settings))
    else:
        print(asyncio.run(show(settings, args.district_id)))
    return 0

