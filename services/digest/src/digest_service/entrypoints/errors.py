"""How the JSON API answers each error of the rules: the one place that knows their HTTP status."""
from __future__ import annotations

from pur_kit.http import DomainErrorTable

from ..domain.errors import DateInFuture, InvalidUnsubscribeLink, NoSuchDistrict, NotAPerson, NotDistrictAdmin

DOMAIN_ERRORS: DomainErrorTable = {
    NoSuchDistrict: (404, "not_found"),   # also for another district: its existence does not leak
    NotDistrictAdmin: (403, "forbidden"),
    DateInFuture: (422, "validation_error", ("field",)),
    InvalidUnsubscribeLink: (400, "invalid_token"),   # one answer, whichever check failed
    NotAPerson: (403, "forbidden"),
}
