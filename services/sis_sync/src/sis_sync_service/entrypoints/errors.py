"""How the JSON API answers each error of the rules: the one place that knows their HTTP status."""
from __future__ import annotations

from pur_kit.http import DomainErrorTable

from ..adapters.run_store import RunAlreadyActive
from ..domain.errors import ContactManagedBySis, InvalidValue, NotAllowed, NotFound

DOMAIN_ERRORS: DomainErrorTable = {
    InvalidValue: (422, "validation_error", ("field",)),
    ContactManagedBySis: (409, "contact_details_managed_by_sis"),
    NotAllowed: (403, "forbidden"),
    NotFound: (404, "not_found"),
    RunAlreadyActive: (409, "conflict"),
}
