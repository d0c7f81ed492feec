"""Time-ordered request and event ids."""
from __future__ import annotations

import time

from requests_service.domain.ids import uuid7


def test_ids_are_version_7_unique_and_ordered_by_millisecond():
    first = uuid7()
    time.sleep(0.002)
    later = [uuid7() for _ in range(1000)]
    assert first.version == 7 and first.variant == "specified in RFC 4122"
    assert len(set(later)) == 1000
    assert all(first < x for x in later)
    assert abs((first.int >> 80) - time.time_ns() // 1_000_000) < 5_000
