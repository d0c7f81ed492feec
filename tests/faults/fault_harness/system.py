"""The whole system as real processes (the production entrypoints, through devstack.Stack) on the
real RabbitMQ and PostgreSQL, each dependency reached through a TcpProxy a scenario can cut: one
proxy for the broker, one per service for its database (replicas of a service share theirs).

The test process talks to RabbitMQ and PostgreSQL directly (never through a proxy), so it can count
and inspect while a service is cut off.
"""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import httpx
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.db import asyncpg_dsn
from pur_kit.devstack import ServiceSpec, Stack
from pur_kit.testing import TcpProxy, free_port, wait_until
from pur_kit.testing.mailbox import Mailbox
from sqlalchemy.engine import make_url
from yarl import URL

SERVICES = ("sis_sync", "settings", "requests", "digest")


def _short_config(name: str, mailbox: Mailbox, requests_url: str) -> dict[str, str]:
    """Faster retries and relay polls than production, so a scenario settles in seconds; small
    connection pools, so eight processes stay well inside PostgreSQL's 100 connections."""
    p = name.upper() + "_"
    env = {f"{p}CONSUMER_RETRY_DELAY_MS": "50", f"{p}OUTBOX_POLL_SECONDS": "1", f"{p}LOG_LEVEL": "WARNING",
           f"{p}DB_POOL_SIZE": "4", "DIGEST_SEND_CONCURRENCY": "2"}
    if name == "digest":
        env |= {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(mailbox.port),
                "DIGEST_PUBLIC_BASE_URL": requests_url,
                # the scenarios trigger their runs; a scheduled one must not race them
                "DIGEST_SCHEDULER_ENABLED": "false"}
    return env


class FaultSystem:
    def __init__(self, *, rabbitmq_url: str, topology, mailbox: Mailbox, log_dir: Path, replicas: int = 1) -> None:
        self.rabbitmq_url = rabbitmq_url          # direct: the test's own connections
        self.topology = topology
        self.mailbox = mailbox
        self.log_dir = log_dir
        self.replicas = replicas
        self.database_urls: dict[str, str] = {}   # direct
        self.db_proxies: dict[str, TcpProxy] = {}
        self.broker_proxy: TcpProxy | None = None
        self.stacks: list[Stack] = []
        self.client = httpx.AsyncClient(timeout=30)
        self._connections: dict[str, asyncpg.Connection] = {}

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, database_factory) -> None:
        amqp = URL(self.rabbitmq_url)
        self.broker_proxy = TcpProxy(amqp.host, amqp.port or 5672)
        await self.broker_proxy.restore()
        proxied_amqp = str(amqp.with_host("127.0.0.1").with_port(self.broker_proxy.port))
        for name in SERVICES:
            self.database_urls[name] = await database_factory(f"faults_{name}")
            db = make_url(self.database_urls[name])
            self.db_proxies[name] = TcpProxy(db.host or "127.0.0.1", db.port or 5432)
            await self.db_proxies[name].restore()
        ports = [{name: free_port() for name in SERVICES} for _ in range(self.replicas)]
        for replica, replica_ports in enumerate(ports):
            specs = []
            for name in SERVICES:
                proxied_db = make_url(self.database_urls[name]).set(
                    host="127.0.0.1", port=self.db_proxies[name].port).render_as_string(hide_password=False)
                env = _short_config(name, self.mailbox, f"http://127.0.0.1:{replica_ports['requests']}")
                specs.append(ServiceSpec(name, replica_ports[name], proxied_db, env))
            log_dir = self.log_dir / f"replica{replica}"
            log_dir.mkdir(parents=True, exist_ok=True)
            self.stacks.append(Stack(specs, rabbitmq_url=proxied_amqp, namespace=self.topology.namespace,
                                     jwt_secret=DEV_JWT_SECRET, echo=False, log_dir=log_dir))
        # One replica after the other: each `serve` migrates first, and replicas migrating a fresh
        # database at the same moment is a test of its own (test_replicas.py).
        for stack in self.stacks:
            stack.start()
            await stack.wait_ready(timeout=120)

    async def stop(self) -> None:
        # Popen.wait blocks: off the loop, which also runs the proxies the services shut down through.
        for stack in self.stacks:
            await asyncio.to_thread(stack.stop)
        for proxy in [*self.db_proxies.values(), self.broker_proxy]:
            if proxy is not None:
                await proxy.cut()
        for conn in self._connections.values():
            await conn.close()
        await self.client.aclose()

    def spec(self, service: str, replica: int = 0) -> ServiceSpec:
        return next(s for s in self.stacks[replica].specs if s.name == service)

    def url(self, service: str, replica: int = 0) -> str:
        return self.spec(service, replica).base_url

    async def kill(self, service: str, replica: int = 0) -> None:
        await asyncio.to_thread(self.stacks[replica].stop_one, service, signal.SIGKILL)

    async def restart(self, service: str, replica: int = 0) -> None:
        stack = self.stacks[replica]
        stack.start_one(self.spec(service, replica))
        await stack.wait_ready(timeout=120)

    def running(self) -> dict[str, bool]:
        return {f"{name}[{i}]": proc.poll() is None
                for i, stack in enumerate(self.stacks) for name, proc in stack.processes.items()}

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"[{name}[{i}]] {line.rstrip()}" for i, stack in enumerate(self.stacks)
                         for name, out in stack.output.items() for line in out[-lines:])

    # --- outages ---------------------------------------------------------------------------
    async def cut_databases(self, *services: str) -> None:
        for name in services:
            await self.db_proxies[name].cut()

    async def restore_databases(self, *services: str) -> None:
        for name in services:
            await self.db_proxies[name].restore()

    # --- direct database access ------------------------------------------------------------
    async def fetch(self, service: str, query: str, *args) -> list[asyncpg.Record]:
        conn = self._connections.get(service)
        if conn is None or conn.is_closed():
            conn = self._connections[service] = await asyncpg.connect(asyncpg_dsn(self.database_urls[service]))
        return await conn.fetch(query, *args)

    async def fetchval(self, service: str, query: str, *args):
        rows = await self.fetch(service, query, *args)
        return rows[0][0] if rows else None

    async def all_ready(self) -> None:
        async def ready() -> bool:
            for stack in self.stacks:
                for spec in stack.specs:
                    try:
                        if (await self.client.get(f"{spec.base_url}/readyz")).status_code != 200:
                            return False
                    except httpx.HTTPError:
                        return False
            return True

        await wait_until(ready, timeout=60, interval=0.25, message="every service ready")
