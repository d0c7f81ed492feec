"""Rule violations. The JSON API answers each as entrypoints/errors.py says."""
from __future__ import annotations


class DomainError(Exception):
    pass


class InvalidValue(DomainError):
    """A value the rules refuse; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ContactManagedBySis(DomainError):
    """The district's SIS owns contact details, so people cannot edit their own."""


class NotAllowed(DomainError):
    pass


class NotFound(DomainError):
    """No such record, or one the caller may not see: the same answer, so existence does not leak."""
