"""What a run answers: counts and one line per recipient (the API and the CLI print it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..domain.delivery import DeliveryStatus


@dataclass
class RunReport:
    district_id: str
    local_date: date | None = None
    status: str = "completed"   # completed | feature_disabled | digest_disabled | invalid_schedule
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0
    errors: int = 0             # recipients not handled because of an unexpected error (see the logs)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)   # dry run only

    def count(self, outcome: str) -> None:
        if outcome == DeliveryStatus.SENT:
            self.sent += 1
        elif outcome == DeliveryStatus.RETRYING:
            self.retrying += 1
        elif outcome in (DeliveryStatus.FAILED_PERMANENT, DeliveryStatus.UNKNOWN):
            self.failed += 1
        else:
            self.skipped += 1

    def summary(self) -> dict[str, Any]:
        return {"district_id": self.district_id, "local_date": self.local_date.isoformat() if self.local_date else None,
                "status": self.status, "sent": self.sent, "skipped": self.skipped, "retrying": self.retrying,
                "failed": self.failed, "errors": self.errors, "deliveries": self.deliveries}


def run_answer(reports: list[RunReport], dry_run: bool) -> dict[str, Any]:
    """What the API and the CLI answer: the previewed emails, or the totals and each district's run."""
    if dry_run:
        return {"emails": [email for r in reports for email in r.emails]}
    return {"sent": sum(r.sent for r in reports), "skipped": sum(r.skipped for r in reports),
            "retrying": sum(r.retrying for r in reports), "failed": sum(r.failed for r in reports),
            "runs": [r.summary() for r in reports]}
