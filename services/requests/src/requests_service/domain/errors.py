"""What the rules refuse. Entry points translate these into HTTP answers."""
from __future__ import annotations


class DomainError(Exception):
    pass


class InvalidChange(DomainError):
    """A requested value, or the request as a whole, breaks a rule (HTTP 422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotAllowedToSubmit(DomainError):
    """The caller is not an active user of the district (HTTP 403 forbidden)."""


class FeatureDisabled(DomainError):
    """The district has not turned profile update requests on (HTTP 403 feature_disabled)."""


class NotAManager(DomainError):
    """Only Users Managers (and the system credential) list requests (HTTP 403 forbidden)."""
