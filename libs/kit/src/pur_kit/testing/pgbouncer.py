"""A real PgBouncer (the Debian package's binary) in front of the test PostgreSQL, for the tests
that run the kit and the services behind a transaction pooler.

    with running_pgbouncer(postgres_url) as bouncer:
        pooled = bouncer.url_for(database_url)     # same database, through PgBouncer
        ...
        stats = bouncer.show("STATS")              # the admin console, as a list of dicts

Every database is served (`* =` fallback to the same name on the PostgreSQL of `postgres_url`).
Clients log in by trust; PgBouncer logs in to PostgreSQL as the client's user with the password of
`postgres_url`, which only the auth_file can give it (see `_auth_file`). It is up only once a login
to PostgreSQL went through it, so a refused one fails here with PgBouncer's log, not later as a
client's connect timeout.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from .helpers import free_port

PGBOUNCER = os.environ.get("PGBOUNCER_BIN") or shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


def pgbouncer_available() -> bool:
    return PGBOUNCER is not None and shutil.which("psql") is not None


def require_pgbouncer() -> None:
    """Skip the calling test when pgbouncer (or psql) is not installed; fail when REQUIRE_SERVICES=1."""
    if not pgbouncer_available():
        import pytest

        msg = "pgbouncer and psql are needed (apt-get install pgbouncer postgresql-client)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@dataclass
class PgBouncer:
    port: int
    user: str
    process: subprocess.Popen
    log: Path

    def url_for(self, database_url: str) -> str:
        """`database_url` with PgBouncer's host and port (same database and user)."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def show(self, what: str) -> list[dict[str, str]]:
        """`SHOW <what>` on the admin console (simple query protocol only, hence psql)."""
        return list(csv.DictReader(io.StringIO(self.psql("pgbouncer", f"SHOW {what}", "--csv"))))

    def psql(self, database: str, sql: str, *options: str) -> str:
        """`sql` run by psql on `database` through PgBouncer; its output. -w: trust never asks for a
        password, and a prompt would hang the test."""
        return subprocess.run(
            ["psql", "-X", "-w", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database,
             *options, "-c", sql],
            capture_output=True, text=True, timeout=10, check=True).stdout

    def log_text(self, start: int = 0) -> str:
        """PgBouncer's log from byte `start` (a `log_size()` taken earlier: what happened since)."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(start)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


def _auth_file(user: str, password: str | None) -> str:
    """The auth_file's one line: `user` with the URL's password. auth_type = trust asks clients for
    none, but PgBouncer logs in to PostgreSQL with the password this file gives the client's user;
    a `password=` in [databases] counts only with a forced `user=`, which would make one pool of
    every client. A server that asks for a password (a testcontainers PostgreSQL: scram-sha-256)
    refuses an empty one, and PgBouncer then holds every further client of the pool for
    `server_login_retry` (15 s) before it tries again. The format escapes a quote by doubling it;
    a password that looks like "md5..." or "SCRAM-SHA-256$..." would be read as a hash."""
    def quoted(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    return f"{quoted(user)} {quoted(password or '')}\n"


def _wait_until_up(bouncer: PgBouncer, process: subprocess.Popen, database: str, timeout: float = 15) -> None:
    """Wait for the admin console, then log in to `database` through PgBouncer once: a login that
    PostgreSQL refuses (the password, the host or port, the database) is reported now, with the log."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {process.stderr.read()}"
                               f"{bouncer.log_text()}")
        with contextlib.suppress(subprocess.SubprocessError):
            bouncer.show("VERSION")
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"pgbouncer did not answer on {bouncer.port}:\n{bouncer.log_text()}")
        time.sleep(0.1)
    try:
        bouncer.psql(database, "SELECT 1")
    except subprocess.SubprocessError as exc:  # refused, or no answer (an unreachable server)
        why = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        raise RuntimeError(f"pgbouncer could not log in to PostgreSQL ({database!r} as {bouncer.user!r}): "
                           f"{why}\n--- pgbouncer's log ---\n{bouncer.log_text()}") from None


@contextlib.contextmanager
def running_pgbouncer(postgres_url: str, *, pool_mode: str = "transaction", pool_size: int = 20) -> Iterator[PgBouncer]:
    if PGBOUNCER is None:
        raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
    url = make_url(postgres_url)
    user = url.username or "postgres"
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pur-pgbouncer-"))
    log = workdir / "pgbouncer.log"
    (workdir / "userlist.txt").write_text(_auth_file(user, url.password))
    (workdir / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={url.host or "127.0.0.1"} port={url.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / "userlist.txt"}
admin_users = {user}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = 1000
max_db_connections = 0
ignore_startup_parameters = extra_float_digits
logfile = {log}
""")
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(workdir, "postgres")
        for path in workdir.iterdir():
            shutil.chown(path, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    bouncer = PgBouncer(port, user, process, log)
    try:
        _wait_until_up(bouncer, process, url.database or user)
        try:
            yield bouncer
        except Exception as exc:  # the log is removed with the workdir: the failure carries it
            exc.add_note(f"--- pgbouncer's log ---\n{bouncer.log_text()}")
            raise
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
