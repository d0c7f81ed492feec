"""`make run`: migrate, start the four services and a local SMTP sink, seed the demo district.

Everything runs in the foreground with prefixed logs; Ctrl-C stops it all. Data lives in the
local PostgreSQL databases pur_settings, pur_sis_sync, pur_requests and pur_digest, so a second
run reuses it.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import aio_pika  # noqa: E402
import asyncpg  # noqa: E402
from pur_kit.devstack import ServiceSpec, Stack, service_env  # noqa: E402
from pur_kit.mailsink import MailSink  # noqa: E402

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG = os.environ.get("PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
HOW_TO_GET_THEM = """
RabbitMQ and PostgreSQL must be running on 127.0.0.1 (5672 guest/guest, 5432 trust auth).
  With Docker:        docker compose up -d rabbitmq postgres
  On Debian/Ubuntu:   sudo apt-get install -y rabbitmq-server postgresql
                      sudo rabbitmq-server -detached
                      sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
"""

SPECS = [
    ServiceSpec("sis_sync", 8003, f"{PG}/pur_sis_sync",
                {"SIS_SYNC_DROP_FOLDER": str(ROOT / ".run" / "sis-drop")}),
    ServiceSpec("settings", 8001, f"{PG}/pur_settings"),
    # the staff app: every page people use, on one origin (its settings/contact/notification pages
    # call the other services' APIs on the ports below, their defaults)
    ServiceSpec("requests", 8000, f"{PG}/pur_requests", {"REQUESTS_DEV_LOGIN": "true"}),
    ServiceSpec("digest", 8002, f"{PG}/pur_digest",
                {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": "1025",
                 "DIGEST_PUBLIC_BASE_URL": "http://127.0.0.1:8000",
                 "DIGEST_PUBLIC_API_URL": "http://127.0.0.1:8002"}),
]


async def check_infrastructure() -> str | None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG.replace("+asyncpg", "") + "/postgres"), 5)
        await conn.close()
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG} ({type(exc).__name__}: {exc})"
    try:
        conn = await asyncio.wait_for(aio_pika.connect(RABBITMQ_URL), 5)
        await conn.close()
    except Exception as exc:
        return f"RabbitMQ is not reachable at {RABBITMQ_URL} ({type(exc).__name__}: {exc})"
    return None


def migrate(spec: ServiceSpec) -> None:
    env = service_env(spec, rabbitmq_url=RABBITMQ_URL, namespace="pur", jwt_secret=None)
    command = [spec.command[0], "migrate"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"migrating {spec.name} failed")
    print(f"[ migrate] {spec.name}: database {spec.database_url.rsplit('/', 1)[1]} ready (created if missing, migrated to head)")


async def _until_stopped(awaitable, stopping: asyncio.Event) -> bool:
    """Await `awaitable` unless Ctrl-C/SIGTERM comes first; False when stopped."""
    work = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not work.done():
        work.cancel()
        return False
    work.result()
    return True


async def main() -> int:
    problem = await check_infrastructure()
    if problem:
        print(f"error: {problem}\n{HOW_TO_GET_THEM}", file=sys.stderr)
        return 1
    for spec in SPECS:
        migrate(spec)
    os.environ.setdefault("LOG_FORMAT", "console")
    run_dir = ROOT / ".run"
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    sink = MailSink(run_dir / "mail", smtp_port=1025, web_port=8025)
    sink.start()
    stack = Stack(SPECS, rabbitmq_url=RABBITMQ_URL, log_dir=run_dir / "logs")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        stack.start()
        if not await _until_stopped(stack.wait_ready(timeout=90), stopping):
            return 130
        import demo_seed

        try:
            if not await _until_stopped(asyncio.to_thread(demo_seed.main), stopping):
                return 130
        except Exception as exc:  # say what failed, then stop everything (the finally below)
            print(f"error: seeding the demo district failed: {type(exc).__name__}: {exc}\n"
                  f"(service logs are in .run/logs/)", file=sys.stderr)
            return 1
        print(f"""
Profile Update Requests is running:
  Staff app (dev login)  http://127.0.0.1:8000/login   then Directory -> "+👥" -> Manage Requests
  My requests            http://127.0.0.1:8000/my-requests   (and My contact details: /my-contact)
  District Settings      http://127.0.0.1:8000/district-settings   (sign in as the district admin)
  APIs (OpenAPI)         http://127.0.0.1:8000/docs  :8001/docs  :8002/docs  :8003/docs
  Local inbox            http://127.0.0.1:8025/  (files in .run/mail, or: python -m pur_kit.mailsink --list)
  RabbitMQ / PostgreSQL  127.0.0.1:5672 / 127.0.0.1:5432
Press Ctrl-C to stop.""", flush=True)
        await stopping.wait()
    finally:
        print("\nstopping...", flush=True)
        stack.stop()
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
