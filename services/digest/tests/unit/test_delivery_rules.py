"""What each send outcome does to a delivery: retry with backoff, give up, or never again."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest_service.domain.delivery import (
    DeliveryStatus,
    RetryPolicy,
    SendOutcome,
    SendResult,
    after_attempt,
    classify_smtp_code,
)

NOW = datetime(2026, 3, 8, 12, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, backoff=timedelta(seconds=60), backoff_max=timedelta(minutes=3))


def test_a_sent_message_is_sent():
    assert after_attempt(SendOutcome.sent(), 1, NOW, POLICY).status is DeliveryStatus.SENT


def test_a_transient_failure_is_retried_with_a_doubling_capped_backoff():
    outcome = SendOutcome(SendResult.TRANSIENT, "envelope: 451 SMTPRecipientRefused")
    waits = [after_attempt(outcome, n, NOW, POLICY).next_attempt_at - NOW for n in (1, 2, 3)]
    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=180)]
    state = after_attempt(outcome, 1, NOW, POLICY)
    assert state.status is DeliveryStatus.RETRYING and state.error == outcome.error


def test_retries_are_bounded():
    state = after_attempt(SendOutcome(SendResult.TRANSIENT, "connect: ConnectionRefusedError"), 4, NOW, POLICY)
    assert state.status is DeliveryStatus.FAILED_PERMANENT
    assert state.next_attempt_at is None and "gave up after 4 attempts" in state.error


def test_a_permanent_refusal_is_never_retried():
    state = after_attempt(SendOutcome(SendResult.PERMANENT, "envelope: 550 SMTPRecipientRefused"), 1, NOW, POLICY)
    assert state.status is DeliveryStatus.FAILED_PERMANENT and state.next_attempt_at is None


def test_a_message_that_may_have_been_accepted_is_unknown_and_never_retried():
    state = after_attempt(SendOutcome(SendResult.AMBIGUOUS, "data: SMTPServerDisconnected"), 1, NOW, POLICY)
    assert state.status is DeliveryStatus.UNKNOWN and state.next_attempt_at is None


def test_smtp_reply_codes_4xx_are_transient_and_5xx_permanent():
    assert classify_smtp_code(421) is SendResult.TRANSIENT
    assert classify_smtp_code(451) is SendResult.TRANSIENT
    assert classify_smtp_code(550) is SendResult.PERMANENT
    assert classify_smtp_code(554) is SendResult.PERMANENT
