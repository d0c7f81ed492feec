"""The fault suite: the four services as real processes on the real RabbitMQ and PostgreSQL, behind
TCP proxies that cut them off, with an aiosmtpd mailbox; one system per scenario.

Each scenario records a row of the fault table (the columns are defined in
fault_harness/ledger.py), printed at the end of the run and written to test-artifacts/fault-table.md.
Assertions are on those counts, never on timings. The services log (warnings and up) to
`<the test's tmp_path>/logs/replica<N>/<service>.log`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_asyncio
from pur_kit.testing.mailbox import running_mailbox

# pytest's importlib mode puts no test folder on sys.path; the scenarios share fault_harness.
sys.path.insert(0, str(Path(__file__).parent))

from fault_harness import table  # noqa: E402
from fault_harness.ledger import DEFINITIONS, Ledger  # noqa: E402
from fault_harness.system import FaultSystem  # noqa: E402

ROWS = pytest.StashKey[list]()


@pytest.fixture
def mailbox():
    with running_mailbox() as box:
        yield box


@pytest_asyncio.fixture
async def start_system(database_factory, rabbitmq_url, topology, mailbox, tmp_path):
    """`await start_system(replicas=1)`: a started system on fresh databases and the test's namespace."""
    systems: list[FaultSystem] = []

    async def start(replicas: int = 1) -> FaultSystem:
        system = FaultSystem(rabbitmq_url=rabbitmq_url, topology=topology, mailbox=mailbox,
                             log_dir=tmp_path / "logs", replicas=replicas)
        systems.append(system)
        await system.start(database_factory)
        return system

    yield start
    for system in systems:
        await system.stop()


@pytest.fixture
def record(request):
    """`await record(scenario, ledger, **notes)`: the ledger's counts now, as a row of the table."""
    rows = request.config.stash.setdefault(ROWS, [])

    async def add(scenario: str, ledger: Ledger, **notes: int) -> table.FaultRow:
        row = await ledger.row(scenario, **notes)
        rows.append(row)
        return row

    return add


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = config.stash.get(ROWS, [])
    if not rows:
        return
    text = table.render(rows, DEFINITIONS)
    path = config.rootpath / "test-artifacts" / "fault-table.md"
    table.write(rows, DEFINITIONS, path)
    terminalreporter.section("fault table")
    terminalreporter.write("\n".join(line for line in text.splitlines() if line.startswith("|")) + "\n")
    terminalreporter.write(f"(definitions and details in {path.relative_to(config.rootpath)})\n")
