"""What the rules refuse. The JSON API answers them as entrypoints/errors.py says; the CLI prints
their message."""
from __future__ import annotations


class DomainError(Exception):
    pass


class NoSuchDistrict(DomainError):
    """The district is unknown, or is not the caller's (its existence does not leak)."""

    def __init__(self) -> None:
        super().__init__("no such district")


class NotDistrictAdmin(DomainError):
    """Only a district administrator of the district (or the system credential) runs or reads its digests."""

    def __init__(self) -> None:
        super().__init__("only a district administrator of this district can run or read its digests")


class DateInFuture(DomainError):
    """A run for a local date that has not begun in the district's time zone."""

    field = "date"

    def __init__(self) -> None:
        super().__init__("date: is in the future in the district's time zone")


class InvalidUnsubscribeLink(DomainError):
    """The token of an unsubscribe link is malformed, forged, or was minted for something else."""

    def __init__(self) -> None:
        super().__init__("this unsubscribe link is not valid")


class NotAPerson(DomainError):
    """A digest subscription is a person's own: the system credential has none."""

    def __init__(self) -> None:
        super().__init__("only a person has a digest subscription; use a person's token")
