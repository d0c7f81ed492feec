"""`If-Match` and `ETag` for optimistic concurrency: the entity tag is the settings version."""
from __future__ import annotations

import re

_TAG = re.compile(r'(?:W/)?(?:"([0-9]{1,12})"|([0-9]{1,12}))', re.ASCII)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_versions(if_match: str | None) -> frozenset[int] | None:
    """None when there is no precondition (absent or `*`), else the versions the client accepts.

    Accepts `"3"`, `3` and `W/"3"`, and a comma-separated list of them. A tag that is not a version
    can match nothing, so it yields an empty set (the answer is then 412).
    """
    if if_match is None or if_match.strip() == "*":
        return None
    versions = set()
    for part in if_match.split(","):
        match = _TAG.fullmatch(part.strip())
        if match:
            versions.add(int(match.group(1) or match.group(2)))
    return frozenset(versions)
