"""One call that reads a clinical text: :func:`read`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vertebra.language.ages import Age, Unreadable, read_age
from vertebra.language.levels import LevelMention, parse_levels, vertebral_levels
from vertebra.language.normalise import normalise
from vertebra.language.pipeline import Finding, find


@dataclass
class Reading:
    """What a text says, read once: the normalised text and everything found in it."""

    original: str
    text: str
    """normalised: lower case, shorthand spelled out, brands as ingredients, typos corrected"""
    truncated: bool
    corrections: dict[str, str]
    medicines: dict[str, str]
    level_mentions: list[LevelMention]
    levels: list[str]
    """vertebrae named (discs excluded), unique, in spinal order"""
    age: Age | Unreadable | None
    findings: list[Finding] = field(default_factory=list)

    def affirmed(self, label: str) -> list[Finding]:
        return [f for f in self.findings if f.label == label and f.affirmed]

    def negated(self, label: str) -> list[Finding]:
        return [f for f in self.findings if f.label == label and f.negated]


def read(
    text: str,
    today: dt.date | None = None,
    *,
    known: Iterable[str] = (),
    nlp: Any | None = None,
    find_concepts: bool = True,
) -> Reading:
    """Read ``text``: normalise it (relative dates against ``today``), then levels, age and the
    concepts with ConText (``nlp``: a pipeline from :func:`~vertebra.language.build`;
    ``find_concepts=False`` skips them, for callers with their own :class:`ConceptSet`)."""
    n = normalise(text, today, known)
    mentions = parse_levels(n.text)
    return Reading(
        original=text,
        text=n.text,
        truncated=n.truncated,
        corrections=n.corrections,
        medicines=n.medicines,
        level_mentions=mentions,
        levels=vertebral_levels(n.text),
        age=read_age(n.text),
        findings=find(n.text, nlp) if find_concepts else [],
    )
