"""How the JSON API answers each error of the rules: the one place that knows their HTTP status."""
from __future__ import annotations

from pur_kit.http import DomainErrorTable

from ..adapters.run_store import RunAlreadyActive
from ..adapters.spool import SpoolUnwritable
from ..domain.errors import ContactManagedBySis, InvalidValue, NotAllowed, NotFound
from ..service_layer.runner import ImportCapacityFull

DOMAIN_ERRORS: DomainErrorTable = {
    InvalidValue: (422, "validation_error", ("field",)),
    ContactManagedBySis: (409, "contact_details_managed_by_sis"),
    NotAllowed: (403, "forbidden"),
    NotFound: (404, "not_found"),
    RunAlreadyActive: (409, "conflict"),
    # This instance cannot take the request now, though another may: 503 `unavailable` with
    # Retry-After (the error's `retry_after`), as for an unreachable database (clients and load
    # balancers already retry those), and `reason` saying which.
    ImportCapacityFull: (503, "unavailable", ("reason",)),
    SpoolUnwritable: (503, "unavailable", ("reason",)),
}

