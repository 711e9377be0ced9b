"""Tokenising for retrieval: lower case, synonym expansion, stop words, a light suffix stemmer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from vertebra import terminology
from vertebra.ask.lexicon import lexicon
from vertebra.facts import DRUGS

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_SUFFIXES = (
    ("ational", "ate"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("isation", "ise"),
    ("ization", "ise"),
    ("izing", "ise"),
    ("ising", "ise"),
    ("ized", "ise"),
    ("izes", "ise"),
    ("ize", "ise"),
    ("ies", "y"),
    ("ied", "y"),
    ("ness", ""),
    ("ments", ""),
    ("ment", ""),
    ("ingly", ""),
    ("ings", ""),
    ("ing", ""),
    ("edly", ""),
    ("ed", ""),
    ("ly", ""),
    ("es", "e"),
    ("s", ""),
)


def stem(word: str) -> str:
    """A small, deterministic English suffix stripper (no model, no download)."""
    if len(word) <= 4 or word[-1].isdigit():
        return word
    if word.endswith(("ss", "us", "is", "sis")):
        return word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def _phrase(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(text.lower()) + r"(?![a-z0-9])")


@dataclass(frozen=True)
class _Tables:
    stop: frozenset[str]
    question: frozenset[str]
    groups: tuple[tuple[re.Pattern[str], str], ...]


@cache
def _tables() -> _Tables:
    lex = lexicon()
    spelled = terminology.medicine_names().spelled  # the one list of medicine names
    groups: list[tuple[re.Pattern[str], str]] = []
    for drug in DRUGS:  # every other name of a drug finds the drug
        own, *names = spelled[drug]
        groups.extend((_phrase(name), own) for name in names)
    for group in lex.synonyms:
        terms = " ".join(group.terms)
        variants = [*group.variants, *(name for w in group.words for name in spelled[w])]
        for variant in dict.fromkeys(variants):
            if variant not in group.terms:
                groups.append((_phrase(variant), terms))
    return _Tables(
        stop=frozenset(w.lower() for w in lex.stopwords),
        question=frozenset(w.lower() for w in lex.question_words),
        groups=tuple(groups),
    )


def expand(text: str) -> str:
    """The text, lower-cased, with the terms of every synonym group it mentions appended."""
    low = text.lower().replace("’", "'")
    extra = [terms for pattern, terms in _tables().groups if pattern.search(low)]
    return low + (" " + " ".join(dict.fromkeys(extra)) if extra else "")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def tokens(text: str, *, drop_question_words: bool = False) -> list[str]:
    """Stemmed retrieval tokens of a text, synonyms expanded, stop words removed."""
    t = _tables()
    out: list[str] = []
    for w in words(expand(text)):
        if w in t.stop or (drop_question_words and w in t.question):
            continue
        out.append(stem(w))
    return out


def content_words(text: str) -> list[str]:
    """The words of a question that carry its topic (no stop or question words), stemmed,
    without synonym expansion: used to judge whether the knowledge base covers it."""
    t = _tables()
    return [
        stem(w)
        for w in words(text.replace("’", "'"))
        if w not in t.stop and w not in t.question and not w.isdigit() and len(w) > 1
    ]
