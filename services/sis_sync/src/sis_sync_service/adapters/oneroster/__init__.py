"""OneRoster 1.0/1.1/1.2 CSV bulk exports: a streaming, lenient reader and a realistic generator."""
from .generator import generate_roster, rewrite_users
from .reader import OrgRecord, Roster, RosterStructureError, RowError, UserRecord, open_roster

__all__ = [
    "OrgRecord", "Roster", "RosterStructureError", "RowError", "UserRecord",
    "generate_roster", "open_roster", "rewrite_users",
]
