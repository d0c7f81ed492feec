"""The tables the UI checks print at the end of the run and write under test-artifacts/ui/."""
from __future__ import annotations

from .browser import ARTIFACTS

# table name -> (header, {row key: row}); rows keep the order the tests ran in
TABLES: dict[str, tuple[tuple[str, ...], dict[tuple, tuple]]] = {}


def record(table: str, header: tuple[str, ...], key: tuple, row: tuple) -> None:
    TABLES.setdefault(table, (header, {}))[1][key] = row


def markdown(table: str) -> str:
    header, rows = TABLES[table]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows.values()]
    return "\n".join(lines) + "\n"


def write_all() -> list[str]:
    """Write every table that got rows; the names written."""
    written = []
    for table, (_, rows) in TABLES.items():
        if rows:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / f"{table}.md").write_text(markdown(table))
            written.append(table)
    return written
