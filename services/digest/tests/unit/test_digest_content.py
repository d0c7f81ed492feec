"""What a digest says: counts, subject, ages; scopes that share a selection."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from digest_service.domain.digest import (
    Recipient,
    RequestLine,
    ScopeView,
    describe_age,
    digest_subject,
    new_since_from_listing,
)

NOW = datetime(2026, 3, 8, 12, tzinfo=UTC)


def line(hours_ago: float) -> RequestLine:
    return RequestLine(uuid.uuid4(), "Rita Requester", ("sch-a",), NOW - timedelta(hours=hours_ago), ("email",),
                       False, False)


def manager(scope: str = "schools", schools: tuple[str, ...] = ("b", "a")) -> Recipient:
    return Recipient(uuid.uuid4(), "d1", "m@example.org", "Mia", "Alder", scope, schools)


def test_the_subject_counts_new_and_open_requests():
    assert digest_subject(3, 3) == "3 new profile update requests"
    assert digest_subject(1, 1) == "1 new profile update request"
    assert digest_subject(2, 7) == "2 new profile update requests, 7 open in total"
    assert digest_subject(0, 4) == "4 open profile update requests"


def test_managers_of_the_same_schools_share_one_selection():
    assert manager(schools=("b", "a")).scope_key == manager(schools=("a", "b", "a")).scope_key
    assert manager(schools=("a",)).scope_key != manager(schools=("a", "b")).scope_key
    assert manager("district", ()).scope_key == ("district",)


def test_new_since_the_last_digest_comes_from_the_listing_when_it_reaches_back_far_enough():
    view = ScopeView(total_open=10, oldest_submitted_at=NOW - timedelta(days=9),
                     newest=tuple(line(h) for h in (1, 2, 30, 40)))
    assert new_since_from_listing(view, None) == 10                        # first digest: all are new
    assert new_since_from_listing(view, NOW - timedelta(hours=24)) == 2     # listing reaches past it
    assert new_since_from_listing(view, NOW - timedelta(days=5)) is None    # all listed are newer: count in SQL
    short = ScopeView(total_open=2, oldest_submitted_at=None, newest=(line(1), line(2)))
    assert new_since_from_listing(short, NOW - timedelta(days=5)) == 2      # everything is listed


def test_ages_read_naturally():
    assert describe_age(timedelta(days=3, hours=5)) == "3 days"
    assert describe_age(timedelta(hours=1, minutes=5)) == "1 hour"
    assert describe_age(timedelta(seconds=20)) == "1 minute"
    assert describe_age(None) == "-"


def test_a_manager_of_several_schools_sees_the_union_of_their_schools_each_request_once():
    from digest_service.domain.digest import union_view

    shared = line(3)                        # a pupil at both schools: in both schools' views
    a = ScopeView(total_open=4, oldest_submitted_at=NOW - timedelta(days=4), newest=(line(1), shared, line(5)),
                  shared=1)
    b = ScopeView(total_open=3, oldest_submitted_at=NOW - timedelta(days=9), newest=(line(2), shared, line(4)),
                  shared=1)
    union = union_view([a, b], overlap=1, limit=4)
    assert union.total_open == 6 and union.oldest_submitted_at == NOW - timedelta(days=9)
    hours = [(NOW - r.submitted_at) / timedelta(hours=1) for r in union.newest]
    assert hours == [1, 2, 3, 4] and [r.id for r in union.newest].count(shared.id) == 1
