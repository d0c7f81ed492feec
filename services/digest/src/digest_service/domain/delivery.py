"""The life of one delivery (recipient, local date) and what each SMTP outcome leads to.

    claimed ──sent──────────────► sent
       │  ──transient (4xx, refused, timeout before DATA)──► retrying ──(due)──► claimed ...
       │  ──permanent (5xx) or attempts exhausted──────────► failed_permanent
       │  ──ambiguous (connection lost after the message was handed over)──► unknown
       └──(process died; found still claimed after the claim timeout)──────► unknown
    retrying ──(nothing New any more, or no longer a Users Manager)──► cancelled

A 'claimed' row is committed before anything is sent, and the (recipient, local date) pair is
unique, so no second email can ever follow; 'unknown' is never retried (at most once).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID


class DeliveryStatus(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED_PERMANENT = "failed_permanent"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


class SendResult(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"    # certainly not delivered; worth trying again
    PERMANENT = "permanent"    # refused for good (5xx)
    AMBIGUOUS = "ambiguous"    # maybe delivered: never try again


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: SendResult
    error: str | None = None   # an SMTP code and exception class, never an address or content

    @classmethod
    def sent(cls) -> SendOutcome:
        return cls(SendResult.SENT)


@dataclass(frozen=True, slots=True)
class NextState:
    status: DeliveryStatus
    next_attempt_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=60)
    backoff_max: timedelta = timedelta(hours=1)

    def delay_after(self, attempts: int) -> timedelta:
        """Wait before the next attempt after `attempts` failed ones: backoff, 2x, 4x, ... capped."""
        return min(self.backoff * 2 ** max(attempts - 1, 0), self.backoff_max)


def after_attempt(outcome: SendOutcome, attempts: int, now: datetime, policy: RetryPolicy) -> NextState:
    """The delivery's state once attempt number `attempts` (1-based) ended with `outcome`."""
    if outcome.result is SendResult.SENT:
        return NextState(DeliveryStatus.SENT)
    if outcome.result is SendResult.AMBIGUOUS:
        return NextState(DeliveryStatus.UNKNOWN, error=outcome.error)
    if outcome.result is SendResult.PERMANENT:
        return NextState(DeliveryStatus.FAILED_PERMANENT, error=outcome.error)
    if attempts >= policy.max_attempts:
        return NextState(DeliveryStatus.FAILED_PERMANENT, error=f"gave up after {attempts} attempts: {outcome.error}")
    return NextState(DeliveryStatus.RETRYING, now + policy.delay_after(attempts), outcome.error)


def classify_smtp_code(code: int) -> SendResult:
    """RFC 5321: 4yz is a transient negative reply, 5yz a permanent one."""
    return SendResult.TRANSIENT if 400 <= code < 500 else SendResult.PERMANENT


@dataclass(frozen=True, slots=True)
class DueRetry:
    """A delivery whose backoff is over, claimed again for its next attempt."""

    id: UUID
    district_id: str
    recipient_id: UUID
    local_date: date
    attempts: int   # including the attempt about to be made
