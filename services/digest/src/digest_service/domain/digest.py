"""What one recipient's digest says: who gets it, which requests it lists, its counts and subject."""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

# Field names only, never the requested values: personal data stays out of email.
FIELD_LABELS = {
    "given_name": "given name",
    "family_name": "family name",
    "email": "email",
    "phone": "phone",
    "sms": "SMS number",
}


@dataclass(frozen=True, slots=True)
class Recipient:
    """An active Users Manager of the district, with the scope that decides what they see."""

    id: UUID
    district_id: str
    email: str | None
    given_name: str
    family_name: str
    scope: str                   # "district" | "schools"
    school_ids: tuple[str, ...]  # for scope "schools"
    last_digest_at: datetime | None = None   # content time of the last digest actually sent
    delivered_on_date: bool = False          # a delivery for the run's local date already exists
    opted_out: bool = False                  # unsubscribed from the digest (domain/subscription.py)

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def scope_key(self) -> tuple:
        """Recipients with equal keys see exactly the same requests."""
        return ("district",) if self.scope == "district" else ("schools", *sorted(set(self.school_ids)))


@dataclass(frozen=True, slots=True)
class RequestLine:
    id: UUID
    requester_name: str
    school_ids: tuple[str, ...]
    submitted_at: datetime
    fields: tuple[str, ...]
    has_note: bool
    appears_applied: bool


@dataclass(frozen=True, slots=True)
class ScopeView:
    """The New requests one scope can see: the newest few listed, the totals counted in SQL."""

    total_open: int
    oldest_submitted_at: datetime | None
    newest: tuple[RequestLine, ...]  # newest first, at most the listing limit
    shared: int = 0                  # how many of them have several schools (may repeat in a union)


EMPTY_VIEW = ScopeView(0, None, ())


def union_view(parts: list[ScopeView], overlap: int, limit: int) -> ScopeView:
    """What a manager of several schools sees, from each school's view.

    The union's newest N are among the schools' newest N (merged, each request once); its total is
    the schools' totals minus `overlap`, the extra counts of requests at several of those schools.
    """
    newest: list[RequestLine] = []
    seen: set = set()
    for line in heapq.merge(*(p.newest for p in parts), key=_recency, reverse=True):
        if line.id not in seen:
            seen.add(line.id)
            newest.append(line)
            if len(newest) == limit:
                break
    oldest = min((p.oldest_submitted_at for p in parts if p.oldest_submitted_at is not None), default=None)
    return ScopeView(sum(p.total_open for p in parts) - overlap, oldest, tuple(newest),
                     shared=sum(p.shared for p in parts))


def _recency(line: RequestLine) -> tuple:
    return line.submitted_at, line.id


@dataclass(frozen=True, slots=True)
class DigestContent:
    recipient: Recipient
    local_date: date
    as_of: datetime
    total_open: int
    new_since_last: int
    oldest_submitted_at: datetime | None
    requests: tuple[RequestLine, ...]

    @property
    def is_empty(self) -> bool:
        return self.total_open == 0

    @property
    def more_count(self) -> int:
        return self.total_open - len(self.requests)

    @property
    def oldest_age(self) -> timedelta | None:
        return None if self.oldest_submitted_at is None else self.as_of - self.oldest_submitted_at

    @property
    def subject(self) -> str:
        return digest_subject(self.new_since_last, self.total_open)


def new_since_from_listing(view: ScopeView, last_digest_at: datetime | None) -> int | None:
    """How many of the scope's requests are newer than the last digest, when the listing alone tells.

    None means the listing is too short to know (the caller then counts in SQL).
    """
    if last_digest_at is None:
        return view.total_open
    newer = sum(1 for line in view.newest if line.submitted_at > last_digest_at)
    if newer < len(view.newest) or len(view.newest) == view.total_open:
        return newer  # the listing reaches back past the last digest: nothing newer is unlisted
    return None


def digest_subject(new_since_last: int, total_open: int) -> str:
    if new_since_last == total_open:
        return f"{plural(total_open, 'new profile update request')}"
    if new_since_last > 0:
        return f"{plural(new_since_last, 'new profile update request')}, {total_open} open in total"
    return f"{plural(total_open, 'open profile update request')}"


def describe_age(age: timedelta | None) -> str:
    if age is None:
        return "-"
    seconds = max(int(age.total_seconds()), 0)
    if seconds >= 86400:
        return plural(seconds // 86400, "day")
    if seconds >= 3600:
        return plural(seconds // 3600, "hour")
    return plural(max(seconds // 60, 1), "minute")


def describe_changes(fields: tuple[str, ...], has_note: bool) -> str:
    """What a request asks for, in words: "Changes: email, phone (with a note)", or "Note only"
    for a request that only carries a note (no field to change)."""
    labels = ", ".join(field_labels(fields))
    if labels:
        return f"Changes: {labels}" + (" (with a note)" if has_note else "")
    return "Note only" if has_note else "No changes listed"


def field_labels(fields: tuple[str, ...]) -> list[str]:
    return [FIELD_LABELS.get(f, f) for f in fields]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
