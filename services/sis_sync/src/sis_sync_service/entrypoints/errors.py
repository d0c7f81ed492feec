"""How the JSON API answers each error of the rules: the one place that knows their HTTP status."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pur_kit.errors import error_body
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
}

# This instance cannot take the request now, though another may: 503 `unavailable` with Retry-After,
# as for an unreachable database (clients and load balancers already retry those), and `reason`
# saying which. {error: (reason, Retry-After seconds)}
UNAVAILABLE_ERRORS: dict[type[Exception], tuple[str, int]] = {
    ImportCapacityFull: ("import_capacity", 5),  # a run ends within seconds to minutes
    SpoolUnwritable: ("upload_spool", 10),       # an operator must free or fix the directory
}


def install_unavailable_errors(app: FastAPI) -> None:
    for cls, (reason, retry_after) in UNAVAILABLE_ERRORS.items():
        app.add_exception_handler(cls, _unavailable(reason, retry_after))


def _unavailable(reason: str, retry_after: int):
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("unavailable", str(exc), reason=reason), status_code=503,
                            headers={"Retry-After": str(retry_after)})

    return handler
