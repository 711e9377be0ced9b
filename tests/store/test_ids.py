"""new_uuid: canonical RFC 4122 version-4 UUID text, as str(uuid.uuid4()) gives."""

from __future__ import annotations

import re
import uuid

from vertebra.store.ids import new_uuid

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_new_uuid_is_a_random_version_4_uuid_in_canonical_form() -> None:
    ids = [new_uuid() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    variants = set()
    for text in ids:
        assert CANONICAL.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
        variants.add(text[19])
    assert variants == set("89ab")  # every variant digit occurs (2 random bits)
    # every other hex digit varies (122 random bits)
    for position in [i for i in range(36) if i not in (8, 13, 14, 18, 19, 23)]:
        assert len({text[position] for text in ids}) == 16, position
