"""The actions behind the API and the CLI: who may run a district's digest or read its delivery
log, and a run asked for now (`POST /api/v1/digests/run`, `pur-digest run`)."""
from __future__ import annotations

from datetime import date

from pur_kit.auth import Principal

from ..adapters.repositories import UnitOfWorkFactory, Uow
from ..domain.access import district_in_reach as reach
from ..domain.district import check_run_date
from .reports import RunReport
from .runner import Clock, DigestRunner

# The operator at the command line: the reach of the system credential.
OPERATOR = Principal(subject="operator", district_id=None, is_system=True, token="")


async def district_in_reach(uow: Uow, caller: Principal, district_id: str | None) -> str | None:
    """The district the caller may act on; None: the operator, who asked for every district.
    Raises NoSuchDistrict or NotDistrictAdmin (domain/access.py)."""
    directory = uow.repos.directory
    if caller.is_system:
        known = district_id is None or await directory.district_exists(district_id)
        return reach(caller, district_id, known=known, administers=None)
    administers = await directory.district_administered_by(caller.user_id)
    return reach(caller, district_id, known=True, administers=administers)


class DigestRuns:
    """The run of `POST /api/v1/digests/run` and `pur-digest run`: one function for both."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, runner: DigestRunner, clock: Clock) -> None:
        self.unit_of_work = unit_of_work
        self.runner = runner
        self.clock = clock

    async def run(self, caller: Principal, district_id: str | None, day: date | None, *,
                  dry_run: bool) -> list[RunReport]:
        """Run (or preview) the digest now for `day` (default: today there) of the district the
        caller may act on or, for the operator naming none, of every district, whatever the hour;
        the feature, the preference and the claims still decide. Nothing runs when the caller may
        not, or when `day` is in the future in any of the districts (DateInFuture)."""
        async with self.unit_of_work() as uow:
            district_id = await district_in_reach(uow, caller, district_id)
            districts = [district_id] if district_id is not None else await uow.repos.directory.district_ids()
            if day is not None:
                for d in districts:
                    check_run_date(await uow.repos.directory.district(d), day, self.clock())
        return [await self.runner.run(d, day, dry_run=dry_run) for d in districts]
