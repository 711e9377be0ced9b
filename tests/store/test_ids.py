"""new_uuid: RFC 9562 version-7 UUIDs (Unix milliseconds, then random bits), canonical text."""

from __future__ import annotations

import re
import time
import uuid

from vertebra.store.ids import new_uuid

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _millis(text: str) -> int:
    return int(text.replace("-", "")[:12], 16)


def test_new_uuid_is_a_version_7_uuid_in_canonical_form() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_uuid() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    variants = set()
    for text in ids:
        assert CANONICAL.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
        assert before <= _millis(text) <= after
        variants.add(text[19])
    assert variants == set("89ab")  # the 2 random bits next to the variant


def test_the_random_part_varies_and_later_ids_sort_after_earlier_ones() -> None:
    ids = [new_uuid() for _ in range(5_000)]
    # 74 random bits: every hex digit after the timestamp and version varies
    for position in (15, 16, 17, *range(20, 23), *range(24, 36)):
        assert len({text[position] for text in ids}) == 16, position
    first = new_uuid()
    time.sleep(0.003)
    assert new_uuid() > first  # a later millisecond sorts after (text order = time order)
