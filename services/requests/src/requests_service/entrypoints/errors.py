"""How the JSON API answers each error of the rules: the one place that knows their HTTP status."""
from __future__ import annotations

from pur_kit.http import DomainErrorTable

from ..domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit, NotAManager
from ..service_layer.actions import RequestNotFound
from ..service_layer.submission import IdempotencyKeyReused

DOMAIN_ERRORS: DomainErrorTable = {
    InvalidChange: (422, "validation_error", ("field",)),
    FeatureDisabled: (403, "feature_disabled"),
    NotAllowedToSubmit: (403, "forbidden"),
    NotAManager: (403, "forbidden"),
    RequestNotFound: (404, "not_found"),  # also for a request the caller may not see: existence does not leak
    IdempotencyKeyReused: (409, "conflict"),
}
