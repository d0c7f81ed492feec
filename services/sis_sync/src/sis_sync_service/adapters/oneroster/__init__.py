"""OneRoster 1.0/1.1/1.2 CSV bulk exports: a streaming, lenient reader and a realistic generator."""
from .reader import (OrgRecord, Roster, RosterFileInfo, RosterStructureError, RowError, UserRecord, open_roster,
                     split_list)

__all__ = [
    "OrgRecord", "Roster", "RosterFileInfo", "RosterStructureError", "RowError", "UserRecord",
    "generate_roster", "open_roster", "rewrite_users", "split_list",
]


def __getattr__(name: str):
    # Imported on first use, so `python -m ...oneroster.generator` does not find it half-imported.
    if name in ("generate_roster", "rewrite_users"):
        from . import generator
        return getattr(generator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
