"""Shorthand to words: abbreviations, brand names, clinical time fractions (``3/52``), relative
dates ("last Tuesday", against an injectable ``today``) and typos (rapidfuzz, with a distance
limit). Each step is one regular-expression pass over the text (linear time)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from vertebra import terminology
from vertebra.facts import ALLERGY_CLASSES, MEDICINE_CLASSES
from vertebra.language.lexicon import lexicon

_DASHES = str.maketrans({"’": "'", "‘": "'", "–": "-", "—": "-", "−": "-", "“": '"', "”": '"'})


@dataclass
class Normalised:
    """The normalised (lower-case) text and what was changed to get it."""

    text: str
    truncated: bool = False
    corrections: dict[str, str] = field(default_factory=dict)
    """typo -> the word it was read as"""
    medicines: dict[str, str] = field(default_factory=dict)
    """name as written -> the contract's name (brands and other names)"""


def _alternation(keys: Iterable[str]) -> str:
    r"""One regular expression for ``keys`` (longest first): each key as a whole word where it
    begins or ends with a letter or digit; at any position the longest key that matches wins.

    The keys are grouped by their first character, written first as a literal, with the
    word-boundary test after it (``a(?<![\w]a)`` is ``(?<![\w])a``): Python's matcher then
    skips every group whose first character is not the one in the text, instead of trying each
    of ~200 keys behind a look-behind at every position (70x faster on report sentences;
    the same matches, tests/language/test_normalise.py)."""
    groups: dict[str, list[str]] = {}
    for key in sorted(keys, key=len, reverse=True):
        groups.setdefault(key[0], []).append(key)
    parts = []
    for first, group in groups.items():
        head = re.escape(first)
        if first.isalnum():
            head += rf"(?<![\w]{re.escape(first)})"
        tails = [re.escape(k[1:]) + (r"(?![\w])" if k[-1].isalnum() else "") for k in group]
        parts.append(head + "(?:" + "|".join(tails) + ")")
    return "|".join(parts)


@dataclass(frozen=True)
class _Tables:
    replace: re.Pattern[str]
    mapping: dict[str, str]
    brands: frozenset[str]
    split: re.Pattern[str]
    fraction: re.Pattern[str]
    relative: re.Pattern[str]
    weekday: re.Pattern[str]
    word: re.Pattern[str]


@cache
def brands() -> dict[str, str]:
    """Brand and other names of a drug or medicine -> its name in the contract ("prolia" ->
    "denosumab", "zoledronate" -> "zoledronic acid"): terminology/medicine-names.yaml, the one
    list of medicine names (class words such as "nsaids" are left as written)."""
    spelled = terminology.medicine_names().spelled
    classes = {*ALLERGY_CLASSES, *MEDICINE_CLASSES}
    return {
        name.lower(): names[0]
        for word, names in spelled.items()
        if word not in classes
        for name in names[1:]
    }


@cache
def _tables() -> _Tables:
    lx = lexicon()
    mapping = {k.lower(): v for k, v in lx.abbreviations.items()}
    mapping.update(brands())
    fractions = "|".join(re.escape(k) for k in lx.time.fractions)
    rel = "|".join(re.escape(k) for k in sorted(lx.time.relative, key=len, reverse=True))
    days = "|".join(lx.time.weekdays)
    return _Tables(
        replace=re.compile(_alternation(mapping)),
        mapping=mapping,
        brands=frozenset(brands()),
        # "81f", "3wks", "10mg": a number glued to a word (but not "2nd", "3rd")
        split=re.compile(r"(?<![a-z0-9])(\d+(?:\.\d+)?)(?=[a-z])(?!(?:st|nd|rd|th|s)\b)"),
        fraction=re.compile(rf"(?<![\d/])(\d{{1,3}})\s?/\s?({fractions})(?![\d/])"),
        relative=re.compile(rf"(?<![a-z])(?:{rel})(?![a-z])"),
        weekday=re.compile(rf"(?<![a-z])(?:(last|on|this past|past)\s+)({days})(?![a-z])"),
        word=re.compile(r"[a-z]{4,}"),
    )


_FRACTION_UNIT = {1: "days", 7: "weeks", 30: "months"}


@lru_cache(maxsize=4096)
def _correct(word: str, vocabulary: tuple[str, ...]) -> str | None:
    fz = lexicon().fuzzy
    if len(word) < fz.min_length:
        return None
    limit = max(d for n, d in fz.max_distance.items() if len(word) >= n)
    hit = process.extractOne(word, vocabulary, scorer=Levenshtein.distance, score_cutoff=limit)
    return None if hit is None else str(hit[0])


@cache
def _vocabulary() -> tuple[tuple[str, ...], frozenset[str]]:
    lx = lexicon()
    vocab = tuple(dict.fromkeys(w.lower() for w in lx.fuzzy.vocabulary))
    known = set(vocab) | {w.lower() for w in lx.fuzzy.known}
    names = brands()
    for phrase in [*lx.abbreviations, *lx.abbreviations.values(), *names, *names.values()]:
        known.update(re.findall(r"[a-z]+", phrase.lower()))
    return vocab, frozenset(known)


def normalise(text: str, today: dt.date | None = None, known: Iterable[str] = ()) -> Normalised:
    """Lower-case ``text`` with shorthand spelled out; ``known`` words are never "corrected"."""
    lx = lexicon()
    t = _tables()
    truncated = len(text) > lx.max_chars
    low = text[: lx.max_chars].translate(_DASHES).lower()
    out = Normalised(low, truncated)

    low = t.split.sub(r"\1 ", low)

    def fraction(m: re.Match[str]) -> str:
        days = lx.time.fractions[m.group(2)]
        return f"{m.group(1)} {_FRACTION_UNIT.get(days, 'days')}"

    low = t.fraction.sub(fraction, low)

    vocab, known_words = _vocabulary()
    extra = frozenset(w.lower() for w in known)

    def fix(m: re.Match[str]) -> str:
        w = m.group(0)
        if w in known_words or w in extra:
            return w
        better = _correct(w, vocab)
        if better is None or better == w:
            return w
        out.corrections[w] = better
        return better

    low = t.word.sub(fix, low)

    def expand(m: re.Match[str]) -> str:
        key = m.group(0)
        value = t.mapping[key]
        if key in t.brands:
            out.medicines[key] = value
        return value

    low = t.replace.sub(expand, low)

    day0 = today or dt.date.today()

    def weekday(m: re.Match[str]) -> str:
        target = lx.time.weekdays.index(m.group(2))
        back = (day0.weekday() - target) % 7 or 7
        return f"{back} days ago"

    low = t.weekday.sub(weekday, low)

    def relative(m: re.Match[str]) -> str:
        days = lx.time.relative[m.group(0)]
        return f"{days} days ago" if days else "0 days ago"

    low = t.relative.sub(relative, low)
    out.text = " ".join(low.split())
    return out
