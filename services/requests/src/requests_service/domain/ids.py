"""Time-ordered identifiers (UUID version 7, RFC 9562).

Request ids and event ids are the keys of several B-tree indexes. Random (version 4) keys land on
a random leaf page per insert, and after every checkpoint each such page is written to the WAL in
full; time-ordered keys append to the right edge of the index instead. The 74 random bits keep
them unguessable.
"""
from __future__ import annotations

import os
import time
from uuid import UUID


def uuid7() -> UUID:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76                        # version 7
    value |= ((rand >> 62) & 0xFFF) << 64      # rand_a: 12 bits
    value |= 0b10 << 62                       # RFC 9562 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF      # rand_b: 62 bits
    return UUID(int=value)
