"""A district as the digest sees it: may it get a digest, and on which schedule."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from .errors import DateInFuture
from .schedule import DigestSchedule, InvalidSchedule, local_date_of


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


def zone_of(district: District | None) -> tzinfo:
    """The district's time zone; UTC for a district without (usable) settings."""
    return district.schedule.zone if district is not None and district.schedule is not None else UTC


def check_run_date(district: District | None, day: date, now: datetime) -> None:
    """A run may be asked for today or a past local date of the district, never a future one."""
    if day > local_date_of(now, zone_of(district)):
        raise DateInFuture()
