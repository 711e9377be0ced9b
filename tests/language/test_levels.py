from __future__ import annotations

import pytest

from vertebra.facts import LEVELS
from vertebra.language import parse_levels, vertebral_levels


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("T11-L1 wedge fractures", ["T11", "T12", "L1"]),  # the range keeps T12
        ("T11–L1", ["T11", "T12", "L1"]),
        ("L1,2,4 VCFs in 72F", ["L1", "L2", "L4"]),
        ("L1, 2 and 4 fractures", ["L1", "L2", "L4"]),
        ("D12 #", ["T12"]),  # dorsal = thoracic
        ("Th12 fracture", ["T12"]),
        ("lumbar one compression fracture", ["L1"]),
        ("thoracic vertebra 12 and lumbar vertebra 1", ["T12", "L1"]),
        ("T11-12", ["T11", "T12"]),
        ("L1 to L3", ["L1", "L2", "L3"]),
        ("from T4 through T6", ["T4", "T5", "T6"]),
        ("T6 and T7 VCFs", ["T6", "T7"]),
        ("L1/2 fractures", ["L1", "L2"]),
        ("l2 #", ["L2"]),
    ],
)
def test_levels_ranges_and_lists(text: str, levels: list[str]) -> None:
    assert vertebral_levels(text) == levels


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("T12, 3/52, neuro intact", ["T12"]),  # "3/52" is a time, not T3
        ("L2, 3 weeks ago", ["L2"]),
        ("T2 weighted hyperintensity at L3", ["L3"]),  # an MRI sequence is not a level
        ("T-score -2.5", []),
        ("L4/5 disc bulge; L1 fracture", ["L1"]),  # a disc is not a vertebra
        ("T12-1", ["T12"]),  # not a range
    ],
)
def test_what_is_not_a_vertebra(text: str, levels: list[str]) -> None:
    assert vertebral_levels(text) == levels


def test_disc_mentions_are_marked() -> None:
    (m,) = parse_levels("at the L4/5 level")
    assert m.disc and m.levels == ("L4", "L5")


def test_allowed_limits_to_the_facts_levels() -> None:
    assert vertebral_levels("C5 and T1 fractures", allowed=LEVELS) == ["T1"]
    assert vertebral_levels("C5 fracture") == ["C5"]


def test_mentions_carry_their_words() -> None:
    (m,) = parse_levels("Fractures T11-L1 noted")
    assert (m.text, m.start, m.end) == ("T11-L1", 10, 16)
