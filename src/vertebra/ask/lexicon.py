"""The data behind ``vertebra ask``: synonyms, intents, answer layout and extraction phrases.

Everything is read from YAML shipped in ``vertebra/ask/data`` with :mod:`importlib.resources` and
validated once (unknown keys, unknown facts, drugs, conditions and categories are rejected).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vertebra import terminology, yamlfile
from vertebra.facts import (
    ALLERGY_CLASSES,
    CONDITIONS,
    FACT_NAMES,
    MEDICINES,
    RED_FLAGS,
)
from vertebra.knowledge import load
from vertebra.plan import CATEGORIES


class LexiconError(ValueError):
    """An ask data file is invalid; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SynonymGroup(_Strict):
    """Text that mentions a variant gets the terms appended. ``words``: vocabulary words (drugs,
    medicines, classes) whose names in terminology/medicine-names.yaml join the variants."""

    terms: list[str] = Field(min_length=1)
    variants: list[str] = []
    words: list[str] = []

    @model_validator(mode="after")
    def _some_variant(self) -> SynonymGroup:
        if not self.variants and not self.words:
            raise ValueError("give variants or words")
        return self


class Lexicon(_Strict):
    other_sites: dict[str, list[str]]
    vertebral_words: list[str]
    dose_cues: list[str]
    stopwords: list[str]
    question_words: list[str]
    synonyms: list[SynonymGroup]
    spine_anchors: list[str]
    off_topic: list[str]
    fact_cues: list[str]
    min_score: float = Field(gt=0)
    max_unknown_share: float = Field(gt=0, le=1)


class Intent(_Strict):
    id: str
    label: str
    phrases: list[str]
    focus: list[str]
    supporting: list[str]

    @field_validator("focus", "supporting")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; allowed: {list(CATEGORIES)}")
        return value


class Layout(_Strict):
    answer_heading: str
    assumptions_heading: str
    facts_heading: str
    conditional_heading: str
    conditional_prefix: str
    disagree_heading: str
    followed_prefix: str
    missing_heading: str
    pitfalls_heading: str
    statements_heading: str
    related_heading: str
    references_heading: str
    not_covered: str
    nearest_heading: str
    dose_prefix: str
    caution_prefix: str
    cautions_as_above: str
    assumed_patient: str
    assumed_age: str
    assumed_sex: str
    assumed_conditions: str
    no_level: str
    assumed_level: str
    egfr_as_crcl: str
    age_range: str
    age_unreadable: str
    could_not_read: str
    age_heading: str
    age_only_at: str
    declined_heading: str
    declined_child: str
    declined_trauma: str
    declined_site: str
    declined_no_fracture: str


class Budget(_Strict):
    min_sentences: int = Field(ge=1)
    max_sentences: int = Field(ge=1)
    max_conditional: int = Field(ge=0)
    max_conflicts: int = Field(ge=0)
    max_pitfalls: int = Field(ge=0)
    max_related: int = Field(ge=0)
    max_supporting: int = Field(ge=0)


class Rows(_Strict):
    """Knowledge-base rows the answers name (checked against the knowledge base at load)."""

    nearest_fallback: list[str] = Field(min_length=1)
    """Shown as the nearest topics when retrieval finds nothing."""
    high_energy_scope: str
    """The rule quoted when a question describes a high-energy injury."""


class IntentFile(_Strict):
    intents: list[Intent] = Field(min_length=1)
    layout: Layout
    rows: Rows
    budget: Budget


class ValuePatterns(_Strict):
    value: str | bool
    patterns: list[str] = Field(min_length=1)


class NumberPatterns(_Strict):
    """Regular expressions with a ``value`` group (optionally ``unit``: a time unit, the value is
    converted to ``unit_to`` days per unit; optionally ``sign``: when it matched, the value is
    negative). The first match of the first pattern within [low, high] is taken."""

    patterns: list[str] = Field(min_length=1)
    unit_to: int | None = Field(default=None, ge=1)
    low: float = 0
    high: float


class Extraction(_Strict):
    negations: list[str]
    values: dict[str, list[ValuePatterns]]
    numbers: dict[str, NumberPatterns]
    conditions: dict[str, list[str]]
    red_flags: dict[str, list[str]]
    medication_classes: dict[str, list[str]]
    medication_name_patterns: dict[str, list[str]]
    allergy_classes: dict[str, list[str]]
    current_drug: list[str]
    allergy: list[str]
    drug_not_topic: list[str]
    unreadable_cues: dict[str, list[str]]
    drug_history_before: str
    conservative_care: str
    duration: str
    drug_years_before: list[str]
    prior_fracture: str
    prior_fracture_negated: str


def _read(name: str) -> Any:
    raw = resources.files(__package__).joinpath("data").joinpath(name).read_bytes()
    try:
        return yamlfile.safe_load(raw)
    except yaml.YAMLError as exc:
        raise LexiconError(f"{name}: not valid YAML: {exc}") from None


def _model(kind: Any, name: str) -> Any:
    try:
        return kind.model_validate(_read(name))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise LexiconError(f"{name}: {problems}") from None


def _compile(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise LexiconError(f"{where}: bad pattern {pattern!r}: {exc}") from None


@cache
def lexicon() -> Lexicon:
    lex: Lexicon = _model(Lexicon, "lexicon.yaml")
    known = terminology.medicine_names().spelled
    for group in lex.synonyms:
        for word in group.words:
            if word not in known:
                raise LexiconError(f"lexicon.yaml: synonyms {group.terms}: unknown word {word!r}")
    return lex


@cache
def intents() -> IntentFile:
    data: IntentFile = _model(IntentFile, "intents.yaml")
    ids = [i.id for i in data.intents]
    if len(set(ids)) != len(ids):
        raise LexiconError("intents.yaml: duplicate intent id")
    for required in ("treatment", "drug"):
        if required not in ids:
            raise LexiconError(f"intents.yaml: the {required!r} intent is required")
    known = {row.row.id for row in load().rows()}
    for row_id in (*data.rows.nearest_fallback, data.rows.high_energy_scope):
        if row_id not in known:
            raise LexiconError(f"intents.yaml: rows: unknown knowledge-base row {row_id!r}")
    return data


@cache
def extraction() -> Extraction:
    data: Extraction = _model(Extraction, "extraction.yaml")
    for fact, options in data.values.items():
        if fact not in FACT_NAMES:
            raise LexiconError(f"extraction.yaml: values: unknown fact {fact!r}")
        for option in options:
            for p in option.patterns:
                _compile(p, f"extraction.yaml: values.{fact}")
    for cond, patterns in data.conditions.items():
        if cond not in CONDITIONS:
            raise LexiconError(f"extraction.yaml: conditions: unknown condition {cond!r}")
        for p in patterns:
            _compile(p, f"extraction.yaml: conditions.{cond}")
    for fact, num in data.numbers.items():
        if fact not in FACT_NAMES:
            raise LexiconError(f"extraction.yaml: numbers: unknown fact {fact!r}")
        for p in num.patterns:
            _compile(p, f"extraction.yaml: numbers.{fact}")
            if "(?P<value>" not in p:
                raise LexiconError(f"extraction.yaml: numbers.{fact}: {p!r} needs a value group")
    _compile(data.drug_history_before, "extraction.yaml: drug_history_before")
    for key in ("conservative_care", "duration"):
        pattern = getattr(data, key)
        if "{number}" not in pattern:
            raise LexiconError(f"extraction.yaml: {key} needs a {{number}} placeholder")
        _compile(pattern.replace("{number}", "(1)"), f"extraction.yaml: {key}")
    for p in (*data.drug_years_before, data.prior_fracture, data.prior_fracture_negated):
        _compile(p, "extraction.yaml")
    for fact, patterns in data.unreadable_cues.items():
        if fact not in FACT_NAMES:
            raise LexiconError(f"extraction.yaml: unreadable_cues: unknown fact {fact!r}")
        for p in patterns:
            _compile(p, f"extraction.yaml: unreadable_cues.{fact}")
    for flag, patterns in data.red_flags.items():
        if flag not in RED_FLAGS:
            raise LexiconError(f"extraction.yaml: red_flags: unknown red flag {flag!r}")
        for p in patterns:
            _compile(p, f"extraction.yaml: red_flags.{flag}")
    for name in [*data.medication_classes, *data.medication_name_patterns]:
        if name not in MEDICINES:
            raise LexiconError(f"extraction.yaml: unknown medicine or class {name!r}")
    for name in data.allergy_classes:
        if name not in ALLERGY_CLASSES:
            raise LexiconError(f"extraction.yaml: allergy_classes: unknown class {name!r}")
    for p in (*data.current_drug, *data.allergy, *data.drug_not_topic):
        if "{drug}" not in p:
            raise LexiconError(f"extraction.yaml: pattern {p!r} needs a {{drug}} placeholder")
        _compile(p.replace("{drug}", "x"), "extraction.yaml")
    return data
