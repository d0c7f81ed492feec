"""What the rules refuse. The JSON API answers them as entrypoints/errors.py says."""
from __future__ import annotations


class DomainError(Exception):
    pass


class InvalidChange(DomainError):
    """A requested value, or the request as a whole, breaks a rule; `field` names the value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotAllowedToSubmit(DomainError):
    """The caller is not an active user of the district."""


class FeatureDisabled(DomainError):
    """The district has not turned profile update requests on."""


class NotAManager(DomainError):
    """Only Users Managers (and the system credential) list requests."""
