"""Ages in every form clinicians write them ("81F", "78 yo M", "She's 84", "in her 80s",
"octogenarian", "8 yo boy", "teen"), read from normalised text (:mod:`.normalise`). A decade
is a range, never a guessed number; an age cue whose number cannot be read is reported as such."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from vertebra.language.lexicon import lexicon

Sex = Literal["female", "male"]


@dataclass(frozen=True)
class Age:
    """An age (``low == high``) or an age range, the words it came from and the sex they say."""

    low: int
    high: int
    text: str
    sex: Sex | None = None

    @property
    def exact(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True)
class Unreadable:
    """An age was given (``text``) but could not be read."""

    text: str


def _alt(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class _Patterns:
    exact: tuple[re.Pattern[str], ...]
    suffixed: re.Pattern[str]
    not_before: re.Pattern[str]
    decade: re.Pattern[str]
    decade_word: re.Pattern[str]
    named: re.Pattern[str]
    children: re.Pattern[str]
    cue: re.Pattern[str]
    words_age: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    a = lexicon().ages
    n = r"(\d{1,3})"
    not_units = r"(?!\s?(?:%|mg|ml|kg|iu|/|\.\d|days?|weeks?|months?|years? ago|mmol|g\b|cm|mm))"
    sfx = _alt([*a.female_suffix, *a.male_suffix])
    nb = _alt(a.not_age_before)
    na = _alt(a.not_age_after)
    decade_words = _alt(list(a.decade_words))
    tens = _alt(list(a.tens))
    units = _alt(list(_units()))
    return _Patterns(
        exact=(
            re.compile(rf"(?<![\d.]){n}[- ]?years?[- ]old"),
            re.compile(rf"\baged?:?\s*{n}\b{not_units}"),
            re.compile(rf"\b(?:{_alt(a.subject_before)})\s+{n}\b{not_units}"),
            re.compile(rf"\b(?:{_alt(a.subject_words)}),? (?:of |aged )?{n}\b{not_units}"),
        ),
        suffixed=re.compile(rf"(?<![\d./-]){n}\s?({sfx})(?![a-z0-9/])(?!\s*(?:{na})\b)"),
        not_before=re.compile(rf"\b(?:{nb})\s*$"),
        decade=re.compile(r"\b(?:in (?:her|his|their|the) )?(early |mid |mid-|late )?(\d)0'?s\b"),
        decade_word=re.compile(
            rf"\bin (?:her|his|their|the) (early |mid |mid-|late )?({decade_words})\b"
        ),
        named=re.compile(rf"\b({_alt(list(a.named_ranges))})\b"),
        children=re.compile(rf"\b({_alt(list(a.children))})s?\b"),
        cue=re.compile(rf"(?:{_alt(a.cues)})"),
        words_age=re.compile(rf"\b({tens})(?:[- ]({units}))?[- ]years?[- ]old\b"),
    )


def _units() -> dict[str, int]:
    """The cardinals under ten ("eighty-one"), from the lexicon's one table of number words."""
    return {w: n for w, n in lexicon().number_words.cardinals.items() if 0 < n < 10}


def _decade(part: str | None, base: int) -> tuple[int, int]:
    part = (part or "").strip().rstrip("-")
    if part == "early":
        return base, base + 3
    if part == "mid":
        return base + 4, base + 6
    if part == "late":
        return base + 7, base + 9
    return base, base + 9


def _sex(suffix: str) -> Sex | None:
    a = lexicon().ages
    if suffix in a.female_suffix:
        return "female"
    if suffix in a.male_suffix:
        return "male"
    return None


def read_age(text: str) -> Age | Unreadable | None:
    """The patient's age in normalised ``text``: the first exact age, else a range ("in her
    80s", "octogenarian", a child word), else :class:`Unreadable` when an age cue is present
    without a readable number, else ``None``."""
    p = _patterns()
    a = lexicon().ages
    best: tuple[int, Age] | None = None
    for pattern in p.exact:
        m = pattern.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), Age(int(m.group(1)), int(m.group(1)), m.group(0)))
    m = next(
        (
            x
            for x in p.suffixed.finditer(text)
            if not p.not_before.search(text, max(0, x.start() - 12), x.start())
        ),
        None,
    )
    if m and (best is None or m.start() < best[0]):
        best = (m.start(), Age(int(m.group(1)), int(m.group(1)), m.group(0), _sex(m.group(2))))
    m = p.words_age.search(text)
    if m and best is None:
        value = a.tens[m.group(1)] + (_units()[m.group(2)] if m.group(2) else 0)
        best = (m.start(), Age(value, value, m.group(0)))
    if best is not None:
        return best[1]
    m = p.decade.search(text)
    if m and int(m.group(2)) >= 2 and ("in " in m.group(0) or m.group(1)):
        low, high = _decade(m.group(1), int(m.group(2)) * 10)
        return Age(low, high, m.group(0))
    m = p.decade_word.search(text)
    if m:
        low, high = _decade(m.group(1), a.decade_words[m.group(2)])
        return Age(low, high, m.group(0))
    m = p.decade.search(text)
    if m and int(m.group(2)) >= 2:
        low, high = _decade(m.group(1), int(m.group(2)) * 10)
        return Age(low, high, m.group(0))
    m = p.named.search(text)
    if m:
        low, high = a.named_ranges[m.group(1)]
        return Age(low, high, m.group(0))
    m = p.children.search(text)
    if m:
        low, high = a.children[m.group(1)]
        return Age(low, high, m.group(0))
    m = p.cue.search(text)
    if m:
        return Unreadable(text[max(0, m.start() - 20) : m.end() + 20].strip())
    return None
