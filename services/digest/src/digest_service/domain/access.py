"""Who may run a district's digest or read its delivery log, decided from this service's own
projection of the directory (a token only says who is calling)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import NoSuchDistrict, NotDistrictAdmin

if TYPE_CHECKING:
    from pur_kit.auth import Principal


def district_in_reach(caller: Principal, requested: str | None, *, known: bool,
                      administers: str | None) -> str | None:
    """The district the caller may act on; None: the operator, who asked for every district.

    `known`: the requested district exists here (asked for the system credential only);
    `administers`: the district the calling person actively administers, if any. A person acts on
    their own district only, and only as its district administrator; naming another district is
    the same refusal as naming an unknown one, so its existence does not leak.
    """
    if caller.is_system:
        if requested is not None and not known:
            raise NoSuchDistrict()
        return requested
    if requested is not None and requested != caller.district_id:
        raise NoSuchDistrict()
    if administers != caller.district_id:
        raise NotDistrictAdmin()
    return caller.district_id
