"""The fault table: one row per scenario, printed at the end of the run and written as Markdown."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

COLUMNS = ("scenario", "messages_in", "deliveries", "applied", "dead_lettered", "lost", "duplicated")
HEADERS = ("scenario", "messages in", "deliveries expected", "applied", "dead-lettered", "lost", "duplicated")


@dataclass
class FaultRow:
    scenario: str
    messages_in: int
    deliveries: int
    applied: int
    dead_lettered: int
    lost: int
    duplicated: int
    details: dict[str, int] = field(default_factory=dict)   # by kind: duplicates, dead letters, notes

    def cells(self) -> list[str]:
        return [str(asdict(self)[c]) for c in COLUMNS]


def render(rows: list[FaultRow], definitions: str) -> str:
    lines = ["# Fault table", "", definitions.strip(), "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    rows = sorted(rows, key=lambda row: row.scenario)   # scenarios are named "1. ...", "2. ..."
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    notes = [f"- {row.scenario}: " + ", ".join(f"{k} {v}" for k, v in row.details.items() if v)
             for row in rows if any(row.details.values())]
    if notes:
        lines += ["", "Details:", *notes]
    return "\n".join(lines) + "\n"


def write(rows: list[FaultRow], definitions: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(rows, definitions))
