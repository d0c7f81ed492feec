"""`pur-sis-sync serve | migrate | import <path> --district X [--force] | cancel-import RUN_ID |
grant-admin --district X --sis-id S`."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from uuid import UUID

from pur_kit import cli
from pur_kit.logging import configure_logging
from tqdm import tqdm

from ..adapters.run_store import ACTIVE, ImportRuns, RunAlreadyActive
from ..bootstrap import bootstrap
from ..config import Settings
from ..service_layer.directory import grant_district_admin
from ..service_layer.run_control import request_cancel

SERVICE_DIR = Path(os.environ.get("SIS_SYNC_SERVICE_DIR") or Path(__file__).resolve().parents[3])


async def migrate(settings: Settings) -> None:
    await cli.migrate(SERVICE_DIR, settings.database_url)


async def import_roster(settings: Settings, path: Path, district_id: str, force: bool, progress: bool) -> int:
    await migrate(settings)
    pipeline = bootstrap(settings).parts.pipeline
    try:
        try:
            started = await pipeline.begin(district_id, source="cli", source_name=path.name, forced=force)
        except RunAlreadyActive as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        bar = tqdm(total=None, unit="rows", desc=f"{district_id}: reading", disable=not progress, file=sys.stderr)

        def on_progress(phase: str, done: int, total: int | None) -> None:
            if total is not None and bar.total != total:
                bar.total = total
            bar.set_description(f"{district_id}: {phase}")
            bar.update(done - bar.n)

        try:
            outcome = await pipeline.execute(started, path, on_progress)
        finally:
            bar.close()
    finally:
        await pipeline.close()
    print(f"run {outcome.run_id}: {outcome.status}")
    if outcome.failure:
        print(f"  {outcome.failure}")
    counts = outcome.counts.as_dict()
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    shown = [e for e in outcome.errors if e["message"] != outcome.failure][:20]
    for error in shown:
        print(f"  {error['file'] or '-'}:{error['line'] or '-'}: {error['message']}")
    if outcome.error_count > len(shown) + (1 if outcome.failure else 0):
        print(f"  ... {outcome.error_count} errors in all (GET /api/v1/sis-imports/{outcome.run_id})")
    return 0 if outcome.status == "succeeded" else 1


async def cancel_import(settings: Settings, run_id: UUID, wait_seconds: float) -> int:
    """Stop a queued or running import, whichever process runs it, and wait until it has ended."""
    await migrate(settings)
    db = bootstrap(settings).db
    await db.start()
    try:
        async with db.acquire() as conn:
            if await ImportRuns(conn).status_of(run_id) is None:
                print(f"error: no import run {run_id}", file=sys.stderr)
                return 1
        async with db.unit_of_work() as uow:
            requested = await request_cancel(uow, run_id, "an operator (CLI)")
        deadline = time.monotonic() + wait_seconds
        async with db.acquire() as conn:
            # The run's own process stops it (within its cancel poll): watch its status until then.
            while (run := await ImportRuns(conn).status_of(run_id))["status"] in ACTIVE:
                if time.monotonic() >= deadline:
                    print(f"run {run_id}: cancel requested; its process stops it within seconds")
                    return 0
                await asyncio.sleep(0.2)
    finally:
        await db.close()
    if not requested:
        print(f"error: run {run_id} had already ended ({run['status']})", file=sys.stderr)
        return 2
    print(f"run {run_id}: {run['status']}\n  {run['failure']}")
    return 0


async def grant_admin(settings: Settings, district_id: str, sis_id: str) -> int:
    db = bootstrap(settings).db
    await db.start()
    try:
        async with db.unit_of_work() as uow:
            row = await grant_district_admin(uow, district_id, sis_id)
    finally:
        await db.close()
    if row is None:
        print(f"error: no user with SIS id {sis_id!r} in district {district_id!r}", file=sys.stderr)
        return 1
    print(f"{row['id']} is a district administrator of {district_id} (version {row['version']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pur-sis-sync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="migrate, then serve HTTP, consumers, relay and the drop-folder pickup")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    imp = sub.add_parser("import", help="import a OneRoster export (zip or folder) into a district")
    imp.add_argument("path", type=Path)
    imp.add_argument("--district", required=True, help="district id, e.g. springfield (created on first import)")
    imp.add_argument("--force", action="store_true", help="apply even above the deactivation threshold")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    cancel = sub.add_parser("cancel-import", help="stop a queued or running import (it fails, changing nothing)")
    cancel.add_argument("run_id", type=UUID)
    cancel.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for the run to end (default 30)")
    grant = sub.add_parser("grant-admin", help="make a user (by SIS id) a district administrator")
    grant.add_argument("--district", required=True)
    grant.add_argument("--sis-id", required=True)
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging("sis_sync", settings.log_level)
    if args.command == "serve":
        return cli.serve("sis_sync_service.entrypoints.app:create_app", settings, SERVICE_DIR)
    if args.command == "migrate":
        asyncio.run(migrate(settings))
        return 0
    if args.command == "import":
        if not args.path.exists():
            print(f"error: {args.path} does not exist", file=sys.stderr)
            return 1
        return asyncio.run(import_roster(settings, args.path, args.district, args.force, not args.no_progress))
    if args.command == "cancel-import":
        return asyncio.run(cancel_import(settings, args.run_id, args.wait))
    return asyncio.run(grant_admin(settings, args.district, args.sis_id))


if __name__ == "__main__":
    raise SystemExit(main())
