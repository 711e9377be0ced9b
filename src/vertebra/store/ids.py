"""Ids of audit events, cards and suggestions: time-ordered random UUIDs (version 7).

RFC 9562 version 7: the first 48 bits are the Unix time in milliseconds, the other 74 (apart
from the version and variant bits) come from ``os.urandom``. Keys that grow with time are
appended at the end of SQLite's indexes: with random (version 4) uuids every card of a
patient-view call (~17) landed on a different index page, and the commit wrote them all - the
audit write of one call cost 0.28-0.30 ms of CPU against 0.17 ms with these (3,000 events
already stored, ``bench``-like cards; ``docs/api.md``). A card's uuid thereby tells when it was
issued, to the millisecond: the EHR that asked for it knows that anyway. Python 3.14 has
``uuid.uuid7()``; 3.11 does not, hence these lines.

A patient-view call makes about 32 of them. The random digits are read from ``os.urandom``
256 uuids at a time (one system call instead of one per uuid) and each is used once; the
timestamp's text is reused within one millisecond. 0.57 instead of 1.8 us per uuid.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

#: The variant digit (binary 10xx) for a random hex digit: its two low bits are kept.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_BATCH = 256
#: 20 random hex digits per uuid. ``next`` on a list iterator is atomic (the GIL): no two
#: threads get the same digits; two threads refilling at once each read fresh ones.
_random: Iterator[str] = iter(())
#: (Unix milliseconds, the uuid's text up to and including the version digit)
_prefix: tuple[int, str] = (-1, "")


def _batch() -> Iterator[str]:
    digits = os.urandom(10 * _BATCH).hex()
    return iter([digits[i : i + 20] for i in range(0, 20 * _BATCH, 20)])


def _forget() -> None:
    """In a forked child: never use the random digits the parent read (it may use them)."""
    global _random
    _random = iter(())


os.register_at_fork(after_in_child=_forget)


def new_uuid() -> str:
    """A version-7 UUID in its canonical text form (lower-case hex, 8-4-4-4-12)."""
    global _random, _prefix
    millis = time.time_ns() // 1_000_000
    cached = _prefix
    if cached[0] == millis:
        prefix = cached[1]
    else:
        h = f"{millis:012x}"
        prefix = f"{h[:8]}-{h[8:]}-7"
        _prefix = (millis, prefix)
    r = next(_random, None)
    if r is None:
        _random = _batch()
        r = next(_random)
    # r[0] makes way for the version digit, as the version bits replace random ones
    return f"{prefix}{r[1:4]}-{_VARIANT[r[4]]}{r[5:8]}-{r[8:]}"
