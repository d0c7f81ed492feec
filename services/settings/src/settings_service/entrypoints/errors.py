"""How the JSON API answers each error of the rules: the one place that knows their HTTP status."""
from __future__ import annotations

from pur_kit.http import DomainErrorTable

from ..domain.model import UnknownDistrict
from ..domain.rules import InvalidSetting
from ..service_layer.settings import VersionMismatch

DOMAIN_ERRORS: DomainErrorTable = {
    UnknownDistrict: (404, "not_found"),
    InvalidSetting: (422, "validation_error", ("field",)),
    VersionMismatch: (412, "precondition_failed", ("current_version",)),
}
