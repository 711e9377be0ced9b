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


def test_threads_never_share_random_digits() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def many(_: int) -> list[str]:
        return [new_uuid() for _ in range(3_000)]

    with ThreadPoolExecutor(8) as pool:
        ids = [text for chunk in pool.map(many, range(8)) for text in chunk]
    assert len(set(ids)) == len(ids) == 24_000
    # the random part alone (timestamp and version cut off) is unique too
    assert len({text[15:] for text in ids}) == len(ids)


def test_a_forked_child_does_not_reuse_the_parents_random_digits() -> None:
    import os

    new_uuid()  # the parent now holds unused random digits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next uuids, to the parent
        try:
            os.write(write, "\n".join(new_uuid() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split("\n")
    os.waitpid(pid, 0)
    parent = [new_uuid() for _ in range(50)]
    assert len(child) == 50
    assert not {c[15:] for c in child} & {p[15:] for p in parent}
