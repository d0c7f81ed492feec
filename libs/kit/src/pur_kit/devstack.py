"""Run the four services as real processes (their production entrypoints): `make run` and the
end-to-end tests both use this."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

COLORS = {"requests": "\033[36m", "settings": "\033[35m", "digest": "\033[33m", "sis_sync": "\033[32m",
          "mail": "\033[34m"}
RESET = "\033[0m"


@dataclass
class ServiceSpec:
    name: str            # settings | sis_sync | requests | digest
    port: int
    database_url: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.name.upper() + "_"

    @property
    def command(self) -> list[str]:
        return [str(Path(sys.executable).with_name(f"pur-{self.name.replace('_', '-')}")), "serve"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def service_env(spec: ServiceSpec, *, rabbitmq_url: str, namespace: str, jwt_secret: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        f"{spec.prefix}DATABASE_URL": spec.database_url,
        f"{spec.prefix}RABBITMQ_URL": rabbitmq_url,
        f"{spec.prefix}EVENTS_NAMESPACE": namespace,
        f"{spec.prefix}HTTP_HOST": "127.0.0.1",
        f"{spec.prefix}HTTP_PORT": str(spec.port),
        "PYTHONUNBUFFERED": "1",
    })
    if jwt_secret:
        env["JWT_SECRET"] = jwt_secret
    env.update(spec.env)
    return env


class Stack:
    """Starts processes, prefixes their output, waits for readiness, stops them cleanly."""

    def __init__(self, specs: list[ServiceSpec], *, rabbitmq_url: str, namespace: str = "pur",
                 jwt_secret: str | None = None, echo: bool = True, log_dir: Path | None = None) -> None:
        self.specs = specs
        self.rabbitmq_url = rabbitmq_url
        self.namespace = namespace
        self.jwt_secret = jwt_secret
        self.echo = echo
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.output: dict[str, list[str]] = {}

    def start(self) -> None:
        for spec in self.specs:
            self.start_one(spec)

    def start_one(self, spec: ServiceSpec) -> None:
        env = service_env(spec, rabbitmq_url=self.rabbitmq_url, namespace=self.namespace, jwt_secret=self.jwt_secret)
        proc = subprocess.Popen(spec.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, start_new_session=True)
        self.processes[spec.name] = proc
        lines = self.output.setdefault(spec.name, [])
        threading.Thread(target=self._pump, args=(spec.name, proc, lines), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen, lines: list[str]) -> None:
        color = COLORS.get(name, "") if sys.stdout.isatty() else ""
        reset = RESET if color else ""
        log_file = open(self.log_dir / f"{name}.log", "a") if self.log_dir else None  # noqa: SIM115
        for line in proc.stdout:
            lines.append(line)
            if len(lines) > 5000:
                del lines[:1000]
            if log_file:
                log_file.write(line)
                log_file.flush()
            if self.echo:
                sys.stdout.write(f"{color}[{name:>8}]{reset} {line}")
        if log_file:
            log_file.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            for spec in self.specs:
                while True:
                    proc = self.processes[spec.name]
                    if proc.poll() is not None:
                        tail = "".join(self.output.get(spec.name, [])[-30:])
                        raise RuntimeError(f"{spec.name} exited with {proc.returncode}:\n{tail}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{spec.base_url}/readyz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        tail = "".join(self.output.get(spec.name, [])[-30:])
                        raise TimeoutError(f"{spec.name} not ready after {timeout}s:\n{tail}")
                    await asyncio.sleep(0.2)

    def stop_one(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        proc = self.processes.get(name)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_one(name)
