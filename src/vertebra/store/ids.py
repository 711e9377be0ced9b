"""Ids of audit events, cards and suggestions: time-ordered random UUIDs (version 7).

RFC 9562 version 7: the first 48 bits are the Unix time in milliseconds, the other 74 (apart
from the version and variant bits) come from ``os.urandom``. Keys that grow with time are
appended at the end of SQLite's indexes: with random (version 4) uuids every card of a
patient-view call (~17) landed on a different index page, and the commit wrote them all - the
audit write of one call cost 0.28-0.30 ms of CPU against 0.17 ms with these (3,000 events
already stored, ``bench``-like cards; ``docs/api.md``). A card's uuid thereby tells when it was
issued, to the millisecond: the EHR that asked for it knows that anyway. Python 3.14 has
``uuid.uuid7()``; 3.11 does not, hence these lines.
"""

from __future__ import annotations

import os
import time

_VARIANT = "89ab"


def new_uuid() -> str:
    """A version-7 UUID in its canonical text form (lower-case hex, 8-4-4-4-12)."""
    h = f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
    variant = _VARIANT[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"
