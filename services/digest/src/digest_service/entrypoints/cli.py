"""`pur-digest serve | migrate | run [--district X] [--date YYYY-MM-DD] [--dry-run]`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date

from pur_kit import cli
from pur_kit.logging import configure_logging

from ..bootstrap import bootstrap
from ..config import Settings
from ..domain.errors import DomainError
from ..service_layer.digests import OPERATOR
from ..service_layer.reports import run_answer


async def migrate(settings: Settings) -> None:
    await cli.migrate(cli.find_service_dir(__file__, "digest"), settings.database_url)


async def run(settings: Settings, district: str | None, day: date | None, dry_run: bool) -> dict:
    """The same run as `POST /api/v1/digests/run` by the operator. Only the database pool is
    started: `digest.sent` events wait in the outbox until a serving instance's relay publishes them."""
    runtime = bootstrap(settings)
    await runtime.db.start()
    try:
        reports = await runtime.parts.digests.run(OPERATOR, district, day, dry_run=dry_run)
    finally:
        await runtime.stop()
    return run_answer(reports, dry_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pur-digest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="migrate the database, then serve HTTP, consume events, schedule and send digests")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    run_parser = sub.add_parser("run", help="send (or preview) the digest now; prints a JSON summary")
    run_parser.add_argument("--district", help="one district (default: every district)")
    run_parser.add_argument("--date", type=date.fromisoformat,
                            help="local date YYYY-MM-DD, today or earlier there (default: today there)")
    run_parser.add_argument("--dry-run", action="store_true", help="render the emails, send and claim nothing")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("digest", settings.log_level)
    if args.command == "serve":
        return cli.serve("digest_service.entrypoints.app:create_app", settings,
                         cli.find_service_dir(__file__, "digest"))
    elif args.command == "migrate":
        asyncio.run(migrate(settings))
    else:
        try:
            result = asyncio.run(run(settings, args.district, args.date, args.dry_run))
        except DomainError as refusal:
            print(f"pur-digest run: {refusal}", file=sys.stderr)
            return 2
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
