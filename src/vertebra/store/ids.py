"""Random (version 4) UUIDs as text, for the ids of audit events, cards and suggestions."""

from __future__ import annotations

import os

_VARIANT = "89ab"


def new_uuid() -> str:
    """A random RFC 4122 version-4 UUID in its canonical text form: what ``str(uuid.uuid4())``
    returns (16 bytes from ``os.urandom``, version nibble 4, variant bits 10), built without a
    ``uuid.UUID`` object. A patient-view call makes about 32 of them; ``uuid.UUID.__init__`` and
    ``__str__`` cost ~3 us each time, this ~1 us."""
    h = os.urandom(16).hex()
    variant = _VARIANT[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"
