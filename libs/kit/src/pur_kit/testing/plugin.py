"""pytest plugin (registered through the `pytest11` entry point of pur-kit).

RabbitMQ and PostgreSQL come from `RABBITMQ_URL` / `DATABASE_URL` when set, and are started with
testcontainers otherwise, from `PUR_TEST_RABBITMQ_IMAGE` (default rabbitmq:3.13-management) and
`PUR_TEST_POSTGRES_IMAGE` (default postgres:16-alpine); the plugin removes its containers itself at
the end of the session, so `TESTCONTAINERS_RYUK_DISABLED=true` loses nothing but the clean-up of
a killed run. Without either, tests that need them are skipped with the reason, or fail when
`REQUIRE_SERVICES=1` (CI sets it). Isolation: every test database is created fresh and
dropped at the end of the session; every test gets its own event namespace (exchange and queue
prefix) whose exchange and queues are deleted after the test. Services started inside the test
process leave its garbage collector alone (`GC_GEN0_THRESHOLD=0`): freezing the heap at every app
start would keep the test session's cyclic garbage for good.
"""
from __future__ import annotations

import os
import socket
import uuid
import warnings
from urllib.parse import quote

import aio_pika
import pytest
import pytest_asyncio
from pur_contracts import Topology

from ..db import with_database
from ..migrations import drop_database, ensure_database

os.environ.setdefault("GC_GEN0_THRESHOLD", "0")


RABBITMQ_IMAGE = os.environ.get("PUR_TEST_RABBITMQ_IMAGE") or "rabbitmq:3.13-management"
POSTGRES_IMAGE = os.environ.get("PUR_TEST_POSTGRES_IMAGE") or "postgres:16-alpine"

# What this session started, for --forbid-skips' report: fixture name -> image, and the tests
# whose call phase ran with one of those fixtures.
_containers: dict[str, str] = {}
_ran: set[str] = set()
_ran_on_containers: set[str] = set()
_skipped: list[str] = []


def pytest_addoption(parser):
    parser.addoption(
        "--forbid-skips", action="store_true", default=False,
        help="fail the run when a test is skipped or none ran, and report how many tests ran "
             "against containers this plugin started (make test-containers)",
    )


def pytest_runtest_call(item):
    _ran.add(item.nodeid)
    if _containers.keys() & set(getattr(item, "fixturenames", ())):
        _ran_on_containers.add(item.nodeid)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if session.config.getoption("forbid_skips") and (_skipped or not _ran) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not config.getoption("forbid_skips"):
        return
    started = ", ".join(f"{'RabbitMQ' if name == 'rabbitmq_url' else 'PostgreSQL'} ({image})" for name, image in _containers.items())
    terminalreporter.write_sep("=", "containers", bold=True)
    terminalreporter.write_line(
        f"{len(_ran_on_containers)} of {len(_ran)} tests ran against containers started by testcontainers"
        f" ({started or 'none started'}); {len(_skipped)} skipped"
    )
    if _skipped or not _ran:
        why = (["no test ran"] if not _ran else []) + ([f"{len(_skipped)} skipped"] if _skipped else [])
        terminalreporter.write_line(f"FAILED (--forbid-skips): {', '.join(why)}", red=True, bold=True)
        for line in _skipped:
            terminalreporter.write_line(f"  {line}", red=True)


def _unavailable(what: str, url_var: str, image_var: str, image: str, exc: BaseException, logs: str = "") -> None:
    msg = f"{what}: set {url_var}, or provide Docker to start {image} ({image_var}) ({type(exc).__name__}: {exc})"
    if "ryuk" in str(exc).lower():
        msg += ("; the Ryuk reaper image could not be started: TESTCONTAINERS_RYUK_DISABLED=true does"
                " without it (this plugin removes its containers itself)")
    if logs:
        msg += f"\n--- last lines of the container's log ---\n{logs}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _loopback_first(base):
    """`base` (a testcontainers class) reached through 127.0.0.1 when its published port answers
    there. testcontainers' own guess is the bridge gateway (172.17.0.1) whenever /.dockerenv exists,
    which is wrong for an engine on this very machine; a remote engine (DOCKER_HOST=tcp://…) or a
    container that shares only the socket does not answer on loopback and keeps that guess. An
    explicit TC_HOST / TESTCONTAINERS_HOST_OVERRIDE / TESTCONTAINERS_CONNECTION_MODE wins."""

    class LoopbackFirst(base):
        _pur_host: str | None = None

        def get_container_host_ip(self) -> str:
            if self._pur_host is None:
                if any(os.environ.get(v) for v in ("TC_HOST", "TESTCONTAINERS_HOST_OVERRIDE", "TESTCONTAINERS_CONNECTION_MODE")):
                    self._pur_host = super().get_container_host_ip()
                else:
                    self.get_exposed_port(self.port)  # waits until the container runs
                    # the host port the engine published, whatever testcontainers' connection mode
                    published = int(self.get_docker_client().port(self.get_container_id(), self.port))
                    try:
                        socket.create_connection(("127.0.0.1", published), timeout=2).close()
                        self._pur_host = "127.0.0.1"
                    except OSError:
                        self._pur_host = super().get_container_host_ip()
            return self._pur_host

    LoopbackFirst.__name__ = LoopbackFirst.__qualname__ = base.__name__
    return LoopbackFirst


def _start_container(what: str, url_var: str, image_var: str, image: str, make):
    """Create and start a container (`make()` builds it); a failure, Docker missing included, is a
    skip or (REQUIRE_SERVICES=1) a failure naming the variables, with the container removed and
    its log attached."""
    container = None
    try:
        container = make()
        container.start()  # waits until ready: testcontainers' timeout, TC_MAX_TRIES x TC_POOLING_INTERVAL (120 s)
        return container
    except Exception as exc:
        logs = ""
        if container is not None and getattr(container, "_container", None) is not None:
            try:
                out, err = container.get_logs()
                logs = "\n".join((out + err).decode(errors="replace").splitlines()[-25:])
            except Exception:  # the log is a courtesy; the original error is what matters
                pass
        _remove(container)
        _unavailable(what, url_var, image_var, image, exc, logs)


def _remove(container) -> None:
    if container is None:
        return
    try:
        container.stop()  # removes the container and its anonymous volumes
    except Exception as exc:
        warnings.warn(f"could not remove test container {getattr(container, 'image', '?')}: {exc}", RuntimeWarning, stacklevel=2)


@pytest.fixture(scope="session")
def rabbitmq_url():
    if url := os.environ.get("RABBITMQ_URL"):
        yield url
        return

    def make():
        # testcontainers' community RabbitMQ module warns (DeprecationWarning) at import time about
        # its own decorator; that is not this session's concern, whatever its warning filters say.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from testcontainers.community.rabbitmq import RabbitMqContainer
        # Ready when pika opens an AMQP connection (a log line or `ping` come earlier than that).
        return _loopback_first(RabbitMqContainer)(RABBITMQ_IMAGE)

    container = _start_container("RabbitMQ", "RABBITMQ_URL", "PUR_TEST_RABBITMQ_IMAGE", RABBITMQ_IMAGE, make)
    _containers["rabbitmq_url"] = RABBITMQ_IMAGE
    try:
        params = container.get_connection_params()
        vhost = "" if container.vhost == "/" else quote(container.vhost, safe="")
        yield f"amqp://{quote(container.username, safe='')}:{quote(container.password, safe='')}@{params.host}:{params.port}/{vhost}"
    finally:
        _remove(container)


@pytest.fixture(scope="session")
def postgres_url():
    """An admin URL (asyncpg driver) to a server where tests may create databases."""
    if url := os.environ.get("DATABASE_URL"):
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1) if "+asyncpg" not in url else url
        return

    def make():
        from testcontainers.community.postgres import PostgresContainer

        # Ready when `psql -h 127.0.0.1` succeeds inside the container: the official image's (and
        # pur-local/postgres') first-start server listens on no TCP address, so this waits for the
        # real one, after /docker-entrypoint-initdb.d.
        return _loopback_first(PostgresContainer)(POSTGRES_IMAGE, driver="asyncpg")

    container = _start_container("PostgreSQL", "DATABASE_URL", "PUR_TEST_POSTGRES_IMAGE", POSTGRES_IMAGE, make)
    _containers["postgres_url"] = POSTGRES_IMAGE
    try:
        yield container.get_connection_url()
    finally:
        _remove(container)


@pytest_asyncio.fixture(scope="session")
async def database_factory(postgres_url):
    """Call it to get the URL of a new, empty database; all are dropped at the end of the session."""
    created: list[str] = []

    async def create(label: str = "t") -> str:
        url = with_database(postgres_url, f"pur_test_{label}_{uuid.uuid4().hex[:10]}")
        await ensure_database(url)
        created.append(url)
        return url

    yield create
    for url in created:
        await drop_database(url)


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def topology(namespace, rabbitmq_url):
    """The test's own exchange and queue names; everything under them is deleted afterwards."""
    topo = Topology(namespace)
    yield topo
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        # Both kinds: a test may declare the classic queues too (the move to quorum queues).
        for name in topo.queues_of_every_type():
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except Exception:
                pass  # never declared by this test
        channel = await connection.channel()
        try:
            await channel.exchange_delete(topo.exchange)
        except Exception:
            pass
    finally:
        await connection.close()
