"""A real PgBouncer (the Debian package's binary) in front of the test PostgreSQL, for the tests
that run the kit and the services behind a transaction pooler.

    with running_pgbouncer(postgres_url) as bouncer:
        pooled = bouncer.url_for(database_url)     # same database, through PgBouncer
        ...
        stats = bouncer.show("STATS")              # the admin console, as a list of dicts

Every database is served (`* =` fallback to the same name on the PostgreSQL of `postgres_url`),
with trust authentication (a generated auth_file naming the URL's user, as trust still requires).
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
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "pgbouncer",
             "--csv", "-c", f"SHOW {what}"],
            capture_output=True, text=True, timeout=10, check=True).stdout
        return list(csv.DictReader(io.StringIO(out)))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.contextmanager
def running_pgbouncer(postgres_url: str, *, pool_mode: str = "transaction", pool_size: int = 20) -> Iterator[PgBouncer]:
    if PGBOUNCER is None:
        raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
    url = make_url(postgres_url)
    user = url.username or "postgres"
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pur-pgbouncer-"))
    log = workdir / "pgbouncer.log"
    password = f" password={url.password}" if url.password else ""  # trust: PgBouncer logs in with it
    (workdir / "userlist.txt").write_text(f'"{user}" ""\n')
    (workdir / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={url.host or "127.0.0.1"} port={url.port or 5432}{password}

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
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {process.returncode}: {process.stderr.read()}"
                                   f"{bouncer.log_text()}")
            with contextlib.suppress(subprocess.SubprocessError):
                bouncer.show("VERSION")
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"pgbouncer did not answer on {port}:\n{bouncer.log_text()}")
            time.sleep(0.1)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
