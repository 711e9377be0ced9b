"""The clinical language lexicon: ``data/lexicon.yaml``, validated once at load.

Unknown keys are rejected, every regular expression must compile and every level letter must
name a spinal region. :class:`LexiconError` names the entry that is wrong.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vertebra import yamlfile

Region = Literal["C", "T", "L", "S"]
ContextCategory = Literal[
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HISTORICAL",
    "HYPOTHETICAL",
    "FAMILY",
    "TERMINATE",
    "PSEUDO",
]
Direction = Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"]


class LexiconError(ValueError):
    """The language lexicon is invalid; the message names the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fuzzy(_Strict):
    min_length: int = Field(ge=3)
    max_distance: dict[int, int]
    vocabulary: list[str] = Field(min_length=1)
    known: list[str]


class Levels(_Strict):
    letters: dict[str, Region]
    words: dict[str, Region]
    fillers: list[str]
    not_after: list[str]
    range_words: list[str]
    list_words: list[str]
    disc_separator: str
    disc_words: list[str]
    list_followers: list[str]


class Time(_Strict):
    units: dict[str, int]
    fractions: dict[str, int]
    relative: dict[str, int]
    weekdays: list[str] = Field(min_length=7, max_length=7)


class NumberWords(_Strict):
    """Words read as numbers, by kind (see ``number_words`` in lexicon.yaml)."""

    cardinals: dict[str, int]
    articles: dict[str, int]
    ordinals: dict[str, int]
    quantities: dict[str, int]

    def all(self) -> dict[str, int]:
        """Every number word with its value."""
        return {**self.cardinals, **self.articles, **self.ordinals, **self.quantities}


class Ages(_Strict):
    female_suffix: list[str]
    male_suffix: list[str]
    female_words: list[str]
    male_words: list[str]
    decade_words: dict[str, int]
    named_ranges: dict[str, tuple[int, int]]
    tens: dict[str, int]
    not_age_before: list[str]
    not_age_after: list[str]
    subject_before: list[str]
    subject_words: list[str]
    cues: list[str]
    children: dict[str, tuple[int, int]]


class Units(_Strict):
    weight: dict[str, float]
    height: dict[str, float]
    dose: dict[str, float]


class ContextRule(_Strict):
    literal: str = Field(min_length=1)
    category: ContextCategory
    direction: Direction
    max_scope: int | None = Field(default=None, ge=1)


class Lexicon(_Strict):
    max_chars: int = Field(ge=100)
    abbreviations: dict[str, str]
    fuzzy: Fuzzy
    levels: Levels
    number_words: NumberWords
    time: Time
    ages: Ages
    units: Units
    context: list[ContextRule]
    concepts: dict[str, list[str]]

    @field_validator("concepts")
    @classmethod
    def _regexes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for label, patterns in value.items():
            for p in patterns:
                try:
                    re.compile(p)
                except re.error as exc:
                    raise ValueError(f"{label}: bad regular expression {p!r}: {exc}") from exc
        return value


def parse(text: str, source: str = "lexicon.yaml") -> Lexicon:
    """Validate lexicon YAML text; :class:`LexiconError` names the file and the entry."""
    data = yamlfile.safe_load(text)
    try:
        return Lexicon.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LexiconError(f"{source}: {where}: {first['msg']}") from exc


@cache
def lexicon() -> Lexicon:
    """The packaged lexicon (read and validated once per process)."""
    text = resources.files("vertebra.language").joinpath("data/lexicon.yaml").read_text("utf-8")
    return parse(text)
