"""`pur-digest serve | migrate | run [--district X] [--date YYYY-MM-DD] [--dry-run]`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date

from pur_kit import cli
from pur_kit.logging import configure_logging

from ..config import Settings


async def migrate(settings: Settings) -> None:
    await cli.migrate(cli.find_service_dir(__file__, "digest"), settings.database_url)


async def run(settings: Settings, district: str | None, day: date | None, dry_run: bool) -> dict:
    """The same run as `POST /api/v1/digests/run` by the operator; `digest.sent` events wait in the
    outbox until a serving instance's relay publishes them."""
    from ..adapters import store
    from ..bootstrap import build_runner

    runner = build_runner(settings)
    await runner.db.start()
    try:
        async with runner.db.acquire() as conn:
            districts = [district] if district else [r["district_id"] for r in await conn.fetch(store.ALL_DISTRICTS)]
        reports = [await runner.run(d, day, dry_run=dry_run) for d in districts]
    finally:
        await runner.mailer.close()
        await runner.db.close()
    if dry_run:
        return {"emails": [email for r in reports for email in r.emails]}
    return {"sent": sum(r.sent for r in reports), "skipped": sum(r.skipped for r in reports),
            "retrying": sum(r.retrying for r in reports), "failed": sum(r.failed for r in reports),
            "runs": [r.summary() for r in reports]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pur-digest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="migrate the database, then serve HTTP, consume events, schedule and send digests")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    run_parser = sub.add_parser("run", help="send (or preview) the digest now; prints a JSON summary")
    run_parser.add_argument("--district", help="one district (default: every district)")
    run_parser.add_argument("--date", type=date.fromisoformat, help="local date YYYY-MM-DD (default: today there)")
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
        result = asyncio.run(run(settings, args.district, args.date, args.dry_run))
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
