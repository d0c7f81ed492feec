"""A district as the digest sees it: may it get a digest, and on which schedule."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .schedule import DigestSchedule, InvalidSchedule


@dataclass
class District:
    district_id: str
    enabled: bool
    digest_enabled: bool
    schedule: DigestSchedule | None
    problem: str | None = None

    @classmethod
    def from_row(cls, row: Mapping) -> District:
        try:
            schedule, problem = DigestSchedule.parse(row["digest_local_time"], row["timezone"]), None
        except InvalidSchedule as exc:
            schedule, problem = None, str(exc)
        return cls(row["district_id"], row["enabled"], row["digest_enabled"], schedule, problem)

    def refusal(self) -> str | None:
        if not self.enabled:
            return "feature_disabled"
        if not self.digest_enabled:
            return "digest_disabled"
        if self.schedule is None:
            return "invalid_schedule"
        return None
