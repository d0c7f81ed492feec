"""A Users Manager's own choice to receive the daily digest (a personal opt-out).

The district's preference (District Settings) decides whether a district sends digests at all;
this decides whether one person gets theirs. Opting out is harmless to repeat and reversible by
the person, which is why the one-click link of an email may do it without a session.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Via = Literal["email_link", "api"]
UNSUBSCRIBE_PURPOSE = "digest-unsubscribe"   # the purpose bound into the email link's token


@dataclass(frozen=True, slots=True)
class Subscription:
    subscribed: bool
    changed_at: datetime | None      # when they opted out (None while subscribed)
    via: Via | None                  # how they opted out
    users_manager: bool              # an active Users Manager here: a digest can reach them
    district_digest_on: bool         # their district sends digests (feature and preference on)
