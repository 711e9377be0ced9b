"""Vertebral levels, ranges and lists: ``T11-L1`` = T11, T12, L1; ``L1,2,4``; ``D12`` (dorsal) =
T12; "lumbar one"; ``L4/5`` is a disc, not a vertebra. One left-to-right pass (linear time)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from vertebra.language.lexicon import lexicon

SPINE: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    *(f"S{i}" for i in range(1, 6)),
)
_POS = {name: i for i, name in enumerate(SPINE)}
MAX_RANGE = 12  # a written range longer than this is not read as a range


@dataclass(frozen=True)
class LevelMention:
    """Levels named at ``text[start:end]``: one level, a range or a list (``disc``: "L4/5")."""

    levels: tuple[str, ...]
    start: int
    end: int
    text: str
    disc: bool = False


def _alt(words: list[str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class _Grammar:
    atom: re.Pattern[str]
    cont: re.Pattern[str]
    disc_cont: re.Pattern[str]
    disc_after: re.Pattern[str]
    letters: dict[str, str]
    words: dict[str, str]
    numbers: dict[str, int]
    ranges: frozenset[str]
    disc: str


@cache
def _grammar() -> _Grammar:
    lx = lexicon()
    lv = lx.levels
    letters = _alt(list(lv.letters))
    words = _alt(list(lv.words))
    fillers = _alt(lv.fillers)
    numwords = _alt([w for w, n in lx.number_words.all().items() if n <= 12 and len(w) > 2])
    not_after = _alt(lv.not_after)
    guard = rf"(?![0-9])(?!\s*(?:{not_after})(?![a-z]))"
    atom = re.compile(
        rf"(?<![a-z0-9])(?:(?P<letter>{letters})\s?-?(?P<num>\d{{1,2}}){guard}"
        rf"|(?P<word>{words})\s+(?:(?:{fillers})\s+)?(?P<wnum>\d{{1,2}}|{numwords})(?![a-z0-9]))"
    )
    seps = _alt([*lv.range_words, *lv.list_words, lv.disc_separator])
    # A bare number after a separator continues the list only where nothing else claims it
    # ("T12, 3/52" is a level and a time, "L2, 3 weeks" a level and a duration).
    followers = "|".join(lv.list_followers)
    follow = rf"(?=\s*(?:$|[,.;:)?!&+-]|(?:{followers})))"
    cont = re.compile(
        rf"\s*(?P<sep>{seps})\s*(?:(?P<letter>{letters})\s?-?(?P<num>\d{{1,2}}){guard}"
        rf"|(?P<bare>\d{{1,2}})(?![0-9/]){follow})"
    )
    disc_cont = re.compile(
        rf"\s*(?P<sep>{re.escape(lv.disc_separator)})\s*(?:(?P<letter>{letters})\s?-?)?"
        r"(?P<bare>\d{1,2})(?![0-9])"
    )
    return _Grammar(
        atom=atom,
        cont=cont,
        disc_cont=disc_cont,
        disc_after=re.compile(rf"[\s,-]*(?:{_alt(lv.disc_words)})(?![a-z])"),
        letters=dict(lv.letters),
        words=dict(lv.words),
        numbers=lx.number_words.all(),
        ranges=frozenset(lv.range_words),
        disc=lv.disc_separator,
    )


def _level(region: str, number: int) -> str | None:
    name = f"{region}{number}"
    return name if name in _POS else None


def _span(a: str, b: str) -> tuple[str, ...] | None:
    i, j = _POS[a], _POS[b]
    if i > j:
        i, j = j, i
    if j - i > MAX_RANGE:
        return None
    return SPINE[i : j + 1]


def parse_levels(text: str) -> list[LevelMention]:
    """Every level mention in ``text`` (any case), in order of appearance."""
    g = _grammar()
    low = text.lower()
    out: list[LevelMention] = []
    pos = 0
    while True:
        m = g.atom.search(low, pos)
        if m is None:
            return out
        if m.group("letter"):
            region = g.letters[m.group("letter")]
            current = _level(region, int(m.group("num")))
        else:
            region = g.words[m.group("word")]
            raw = m.group("wnum")
            current = _level(region, int(raw) if raw.isdigit() else g.numbers[raw])
        pos = m.end()
        if current is None:
            continue
        levels: list[str] = [current]
        start, end, disc = m.start(), m.end(), False
        while True:
            c = g.disc_cont.match(low, end) or g.cont.match(low, end)
            if c is None:
                break
            sep = c.group("sep")
            if sep == g.disc:
                letter = c.group("letter")
                nxt = _level(g.letters[letter] if letter else current[0], int(c.group("bare")))
            elif c.group("letter"):
                nxt = _level(g.letters[c.group("letter")], int(c.group("num")))
            else:
                nxt = _level(current[0], int(c.group("bare")))
                if nxt is not None and sep in g.ranges and _POS[nxt] <= _POS[current]:
                    nxt = None  # "T12-1" is not a range
            if nxt is None:
                break
            if sep == g.disc and g.disc_after.match(low, c.end()):
                disc = True
                levels.append(nxt)
            elif sep == g.disc:
                if nxt not in levels:
                    levels.append(nxt)
            elif sep in g.ranges:
                span = _span(current, nxt)
                if span is None:
                    break
                levels.extend(x for x in span if x not in levels)
            elif nxt not in levels:
                levels.append(nxt)
            current = nxt
            end = c.end()
        pos = end
        out.append(LevelMention(tuple(levels), start, end, text[start:end], disc))


def vertebral_levels(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    """The vertebrae named in ``text`` (discs excluded), unique, in spinal order; ``allowed``
    limits them (for example to the thoracolumbar levels of the patient facts)."""
    found = {lv for m in parse_levels(text) if not m.disc for lv in m.levels}
    if allowed is not None:
        found &= set(allowed)
    return sorted(found, key=_POS.__getitem__)
