"""Rules of applying a roster to the directory. The import applies them set-based in SQL
(adapters/roster_apply.py); the contact-field rule exists only there (`roster_apply.contact_value`),
with its case table in tests/integration/test_contact_rule.py.

- Identity fields (role, names, schools, agent links, SIS id) always come from the SIS.
- Contact fields (email, phone, sms) come from the SIS while the district's
  `contact_details_auto_update` is on (also the default while the settings are unknown). While it
  is off, the directory's values are kept; a field that is empty and was never edited by its owner
  is filled from the SIS (so new users, and users the SIS only now has details for, get them).
- Users missing from a bulk users.csv, or whose row says `tobedeleted`, are deactivated, never
  deleted; a deactivated user who comes back is reactivated.
- Permissions and self-edit marks are never touched by a sync.
- A run that would deactivate more than `threshold` of the district's active users is refused
  unless forced.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "deactivated": self.deactivated, "rejected": self.rejected}


def mass_deactivation_refusal(active_users: int, to_deactivate: int, threshold: float, forced: bool) -> str | None:
    """Why the run must not be applied, or None. A district without active users has nothing to lose."""
    if forced or active_users == 0 or to_deactivate == 0:
        return None
    share = to_deactivate / active_users
    if share <= threshold:
        return None
    return (f"this roster would deactivate {to_deactivate} of {active_users} active users "
            f"({share:.0%}), more than the allowed {threshold:.0%}; check the export, or re-run with "
            f"force=true to apply it anyway")

