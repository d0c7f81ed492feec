"""Scenario 7: the system on a three-node RabbitMQ cluster with quorum queues (QUEUE_TYPE=quorum),
reached through one HAProxy address, loses the node that leads its queues under steady submissions;
the node comes back a few seconds later. Run twice, each on fresh databases and a fresh namespace.

The services reconnect by themselves (HAProxy sends new connections to a node that is up), the
queues elect new leaders among the two nodes left, and nothing may be lost, duplicated or
dead-lettered. Recorded per run: submissions, deliveries expected and applied, duplicates, how long
the stop command took, and the longest stall of the submissions' path (requests' relay publishing,
the digest consuming: the longest pause between two submissions applied by the digest, while they
arrive ten a second) with when it ended, counted from the stop command. Printed as a table.

The cluster is three extra RabbitMQ nodes of the installed rabbitmq-server on ports of their own on
127.0.0.1 (own node names, data and log directories under the test's tmp dir, one Erlang cookie);
the broker every other test uses (5672) is never touched. Needs haproxy (`apt-get install haproxy`,
.ci/run installs it): skipped without it, a failure under REQUIRE_SERVICES=1.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_harness.district import prepare
from fault_harness.ledger import Ledger
from fault_harness.system import SERVICES, FaultSystem
from fault_harness.table import FaultRow
from pur_contracts import Topology
from pur_kit.testing import free_port
from pur_kit.testing.browser import need

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
RUNS = int(os.environ.get("PUR_CLUSTER_RUNS", "2"))
RATE = 10           # submissions per second, the whole run
BEFORE = 3.0        # seconds of load before the leader stops
DOWN = float(os.environ.get("PUR_CLUSTER_DOWN_SECONDS", "6"))   # seconds the node stays down
AFTER = 3.0         # seconds of load once it is back


@dataclass
class Node:
    name: str
    amqp_port: int
    dist_port: int
    base: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"


class Cluster:
    """Three clustered RabbitMQ nodes and an HAProxy in front of them, all under `base`."""

    def __init__(self, base: Path, size: int = 3) -> None:
        self.base = base
        tag = uuid.uuid4().hex[:6]
        self.nodes = [Node(f"pur{tag}n{i}@localhost", free_port(), free_port(), base / f"n{i}") for i in range(size)]
        self.home = base / "home"
        self.proxy_port = free_port()
        self.haproxy: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.proxy_port}/"

    def _env(self, node: Node | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env |= {"HOME": str(self.home), "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf")}  # not /etc's: its NODENAME
        if node is not None:
            env |= {
                "RABBITMQ_NODENAME": node.name, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(node.amqp_port), "RABBITMQ_DIST_PORT": str(node.dist_port),
                "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"), "RABBITMQ_LOG_BASE": str(node.base / "log"),
                "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(node.base / "pid"),
                "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            }
        return env

    def ctl(self, node: Node, *args: str, timeout: float = 90) -> str:
        done = subprocess.run([RABBITMQCTL, "-n", node.name, *args], env=self._env(), capture_output=True,
                              text=True, timeout=timeout, cwd=self.base, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: {done.stderr.strip()[-500:]}")
        return done.stdout

    def start_node(self, node: Node) -> None:
        node.base.mkdir(parents=True, exist_ok=True)
        (node.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\ndisk_free_limit.absolute = 50MB\n")
        with open(node.base / "console.log", "ab") as log:
            node.process = subprocess.Popen([RABBITMQ_SERVER], env=self._env(node), cwd=self.base, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def await_node(self, node: Node, timeout: float = 120) -> None:
        """Until the node has booted (`await_startup` fails at once while it is not registered yet)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl(node, "await_startup", "--timeout", "60", timeout=70)
                return
            except RuntimeError:
                if node.process.poll() is not None or time.monotonic() > deadline:
                    console = (node.base / "console.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{node.name} did not start:\n{console}") from None
                time.sleep(1)

    def stop_node(self, node: Node) -> None:
        """A clean stop of the whole node (its Erlang VM exits)."""
        with contextlib.suppress(Exception):
            self.ctl(node, "stop", timeout=60)
        if node.process is not None:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait()

    def start(self) -> None:
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "enabled_plugins").write_text("[].\n")
        for node in self.nodes:
            self.start_node(node)
        for node in self.nodes:
            self.await_node(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        # `balance first`: every connection goes to the first node that is up, so the services' queues
        # get their leaders on one node (client-local placement) and its loss is the whole failover.
        servers = "\n".join(f"  server n{i} 127.0.0.1:{n.amqp_port} check" for i, n in enumerate(self.nodes))
        config = self.base / "haproxy.cfg"
        config.write_text(f"""global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
frontend amqp
  bind 127.0.0.1:{self.proxy_port}
  default_backend nodes
backend nodes
  balance first
  # A node counts as up when it answers the AMQP protocol header with a frame (Connection.Start),
  # not when its port accepts: a node shutting down still accepts for a moment. A connection
  # that fails to reach its server anyway is sent to another one.
  option tcp-check
  tcp-check connect
  tcp-check send-binary 414d515000000901
  tcp-check expect binary 01
  option redispatch
  retries 2
  default-server inter 250 fall 1 rise 2 on-marked-down shutdown-sessions
{servers}
""")
        with open(self.base / "haproxy.log", "ab") as log:
            self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def close(self) -> None:
        if self.haproxy is not None:
            self.haproxy.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.haproxy.wait(timeout=10)
            if self.haproxy.poll() is None:
                self.haproxy.kill()
                self.haproxy.wait()
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                self.stop_node(node)
        shutil.rmtree(self.base, ignore_errors=True)

    def members(self) -> int:
        running = self.ctl(self.nodes[0], "cluster_status", "--formatter", "json")
        return len(json.loads(running)["running_nodes"])

    def leaders(self, namespace: str) -> Counter[str]:
        """Node -> how many of the namespace's quorum queues it leads."""
        up = next(n for n in self.nodes if n.process is not None and n.process.poll() is None)
        out = self.ctl(up, "list_queues", "-q", "--no-table-headers", "name", "leader")
        leaders: Counter[str] = Counter()
        for line in out.splitlines():
            name, _, leader = line.partition("\t")
            if name.startswith(f"{namespace}.") and leader.strip():
                leaders[leader.strip()] += 1
        return leaders


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    need(None if Path(HAPROXY).exists() else "haproxy is missing (apt-get install -y haproxy; .ci/run installs it)")
    need(None if Path(RABBITMQ_SERVER).exists() else "rabbitmq-server is missing")
    c = Cluster(tmp_path_factory.mktemp("rabbit-cluster"))
    try:
        c.start()
        assert c.members() == 3
        yield c
    finally:
        c.close()


async def _stall(system: FaultSystem, ledger: Ledger, stopped_at: float) -> tuple[float, float] | None:
    """The longest pause between two submissions applied by the digest (their arrival is steady, so
    this is how long the path from requests' relay to the digest was stalled), and when it ended,
    in seconds after the stop command; None if the digest applied fewer than two."""
    ids = [m.message_id for m in ledger.spy.messages if m.type == "request.submitted"]
    rows = await system.fetch("digest", "SELECT extract(epoch FROM processed_at)::float8 FROM inbox_message "
                                        "WHERE message_id = ANY($1::text[]) ORDER BY 1", ids)
    times = [r[0] for r in rows]
    if len(times) < 2:
        return None
    gap, end = max((b - a, b) for a, b in itertools.pairwise(times))
    return round(gap, 1), round(end - stopped_at, 1)


@dataclass
class Run:
    run: int
    leader: str
    submitted: int
    row: FaultRow
    stop_s: float          # the stop command, until the node was down
    stall: tuple[float, float] | None
    answered: int
    stored_once: bool


async def one_run(run: int, cluster: Cluster, database_factory, mailbox, record, tmp_path: Path) -> Run:
    """A fresh system on the cluster; its queues' leader node stopped for DOWN seconds under load."""
    topology = Topology(f"t{uuid.uuid4().hex[:12]}", "quorum")
    system = FaultSystem(rabbitmq_url=cluster.url, topology=topology, mailbox=mailbox, log_dir=tmp_path / "logs")
    try:
        await system.start(database_factory)
        leaders = await asyncio.to_thread(cluster.leaders, topology.namespace)
        leader = next(n for n in cluster.nodes if n.name == leaders.most_common(1)[0][0])
        # The test's own connections (the ledger's spy, its counts) go to a node that stays up.
        system.rabbitmq_url = next(n for n in cluster.nodes if n is not leader).url
        async with Ledger(system) as ledger:
            district = await prepare(system, tmp_path, students=40, parents=10, staff=6)
            submitted_at: dict[str, float] = {}
            stop = asyncio.Event()

            async def load() -> None:
                tasks, n = [], 0
                while not stop.is_set():
                    key = f"cluster-{run}-{n}"
                    submitted_at[key] = time.time()
                    user = district.students[n % len(district.students)]
                    tasks.append(asyncio.create_task(district.submit(user, key)))
                    n += 1
                    await asyncio.sleep(1 / RATE)
                await asyncio.gather(*tasks)

            loader = asyncio.create_task(load())
            await asyncio.sleep(BEFORE)
            stopped_at = time.time()
            await asyncio.to_thread(cluster.stop_node, leader)
            down_at = time.time()
            await asyncio.sleep(DOWN)
            await asyncio.to_thread(cluster.start_node, leader)
            await asyncio.to_thread(cluster.await_node, leader)
            await asyncio.sleep(AFTER)
            stop.set()
            await loader
            await ledger.settle()
            row = await record(f"7. quorum cluster, queues' leader node stopped (run {run})", ledger,
                               submissions=len(submitted_at))
            stall = await _stall(system, ledger, stopped_at)
            stored = await district.stored()
    finally:
        await system.stop()
    return Run(run, leader.name.split("@")[0], len(submitted_at), row, round(down_at - stopped_at, 1), stall,
               len(district.answers), stored == district.request_ids)


async def test_losing_the_queues_leader_node_loses_and_duplicates_nothing(cluster, database_factory, mailbox,
                                                                          record, tmp_path, monkeypatch):
    for service in SERVICES:
        monkeypatch.setenv(f"{service.upper()}_QUEUE_TYPE", "quorum")
    runs = [await one_run(n, cluster, database_factory, mailbox, record, tmp_path / f"run{n}")
            for n in range(1, RUNS + 1)]

    print("\n| run | node stopped | stop took (s) | submitted | deliveries | applied | duplicated | lost "
          "| dead-lettered | longest stall (s) | recovered, s after the stop |\n" + "|---" * 11 + "|")
    for r in runs:
        stall, recovered = r.stall or (None, None)
        print(f"| {r.run} | {r.leader}, {DOWN:.0f} s down | {r.stop_s} | {r.submitted} | {r.row.deliveries} "
              f"| {r.row.applied} | {r.row.duplicated} | {r.row.lost} | {r.row.dead_lettered} | {stall} | {recovered} |")
    for r in runs:
        assert r.answered == r.submitted and r.stored_once, f"run {r.run}: every submission answered, stored once"
        assert (r.row.lost, r.row.duplicated, r.row.dead_lettered) == (0, 0, 0), r
        assert r.row.applied == r.row.deliveries > 0, r
        assert r.stall is not None, f"run {r.run}: the digest applied no submissions"
