"""Facts a clinician's free-text note states, read safely: red flags and the neurological
examination (``data/notes.yaml``).

Used by FHIR intake for ``Condition.note`` and ``Observation.note``
(:mod:`vertebra.fhir.note_text`). Each sentence is normalised (shorthand spelled out, typos
corrected within the lexicon's limit, the note words of ``known_words`` left alone) and read with
medspaCy's ConText (:class:`~vertebra.language.ConceptSet`): a negated, uncertain, hypothetical
or family finding is never taken as present.

- ``neurological_deficit``: true from an affirmed deficit or a specific sign (weakness, saddle
  anaesthesia, urinary retention, ...); false only from a statement about the whole
  examination ("neurologically intact", "no neuro deficit"). "No weakness" alone is not read.
  When notes disagree, true is kept (the safe reading) and the disagreement is reported.
- ``red_flags``: the affirmed ones; ``[]`` (known none) only from "no red flags" with none
  affirmed.

A sentence that ends with a question mark asks and states nothing; a leading "?" ("?cauda
equina") reads as "possible". Everything else found (a negated sign, an uncertain red flag) is
returned in ``unused`` with
the reason, so the caller can say what was read and not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vertebra import yamlfile
from vertebra.facts import RED_FLAGS
from vertebra.language.normalise import normalise
from vertebra.language.pipeline import ConceptSet, Finding

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
# "?cauda equina" is clinicians' shorthand for "possible cauda equina" (ConText's own rules do
# not read a leading question mark)
_QUERY = re.compile(r"(?<![\w?])\?\s*(?=[a-z])", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Neuro(_Strict):
    deficit: list[str] = Field(min_length=1)
    intact: list[str] = Field(min_length=1)
    signs: list[str] = Field(min_length=1)


class NoteRules(_Strict):
    """``data/notes.yaml`` (validated at load: fact words, regular expressions)."""

    known_words: list[str]
    neurological_deficit: _Neuro
    red_flags: dict[str, list[str]]
    any_red_flag: list[str] = Field(min_length=1)

    @field_validator("red_flags")
    @classmethod
    def _flags(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(RED_FLAGS))
        if unknown:
            raise ValueError(f"unknown red flags {unknown}; allowed: {list(RED_FLAGS)}")
        return value

    def concepts(self) -> dict[str, list[str]]:
        n = self.neurological_deficit
        out = {
            "neuro:deficit": n.deficit,
            "neuro:intact": n.intact,
            "neuro:sign": n.signs,
            "red_flags:any": self.any_red_flag,
        }
        out.update({f"red_flag:{k}": v for k, v in self.red_flags.items()})
        return out


@cache
def rules() -> NoteRules:
    text = resources.files(__package__).joinpath("data").joinpath("notes.yaml")
    loaded = NoteRules.model_validate(yamlfile.safe_load(text.read_text(encoding="utf-8")))
    for label, patterns in loaded.concepts().items():
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(
                    f"notes.yaml: {label}: {p!r} is not a regular expression ({exc})"
                ) from exc
    return loaded


@cache
def _concepts() -> ConceptSet:
    return ConceptSet(rules().concepts())


@dataclass(frozen=True)
class NoteFact:
    """One fact a sentence states: ``fact`` is a contract §1 name."""

    fact: str
    value: Any
    phrase: str
    sentence: str
    """the sentence, as written in the note"""


@dataclass
class NoteReading:
    """What the notes state (``facts``: one value per fact, with the sentences that gave it),
    and what was found but not used (``unused``: phrase, sentence and why)."""

    values: dict[str, Any] = field(default_factory=dict)
    facts: list[NoteFact] = field(default_factory=list)
    unused: list[tuple[str, str, str]] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)


def _why_not(f: Finding) -> str | None:
    for flag, why in (
        (f.negated, "negated"),
        (f.uncertain, "uncertain"),
        (f.hypothetical, "hypothetical"),
        (f.family, "about a relative"),
        (f.historical, "historical"),
    ):
        if flag:
            return why
    return None


def sentences(text: str) -> list[str]:
    """The note's sentences, as written."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def read_notes(texts: list[str]) -> NoteReading:
    """Read every note in ``texts`` (see the module docstring)."""
    known = rules().known_words
    out = NoteReading()
    neuro: dict[bool, list[NoteFact]] = {True: [], False: []}
    flags: dict[str, NoteFact] = {}
    none_said: NoteFact | None = None
    for text in texts:
        for sentence in sentences(text):
            normal = normalise(_QUERY.sub("possible ", sentence), known=known).text
            asked = sentence.rstrip().endswith("?")  # "Night pain?" asks, it does not state
            for f in _concepts().find(normal):
                kind, _, name = f.label.partition(":")
                why = "a question" if asked else _why_not(f)
                if kind == "neuro":
                    if name == "deficit" and (why is None or why == "negated"):
                        value = why is None
                    elif name == "intact" and why is None:
                        value = False
                    elif name == "sign" and why is None:
                        value = True
                    else:
                        why = why if name != "sign" else f"{why} (one sign, not the examination)"
                        out.unused.append((f.text, sentence, f"neurological_deficit: {why}"))
                        continue
                    neuro[value].append(NoteFact("neurological_deficit", value, f.text, sentence))
                elif kind == "red_flag":
                    if why is None:
                        flags.setdefault(name, NoteFact("red_flags", name, f.text, sentence))
                    else:
                        out.unused.append((f.text, sentence, f"red flag {name}: {why}"))
                elif kind == "red_flags" and f.negated and none_said is None:
                    none_said = NoteFact("red_flags", [], f.text, sentence)
    if neuro[True]:
        out.values["neurological_deficit"] = True
        out.facts.append(neuro[True][0])
        if neuro[False]:
            out.disagreements.append(
                f'neurological_deficit: "{neuro[True][0].sentence}" against '
                f'"{neuro[False][0].sentence}"; true is kept (the safe reading)'
            )
    elif neuro[False]:
        out.values["neurological_deficit"] = False
        out.facts.append(neuro[False][0])
    if flags:
        out.values["red_flags"] = sorted(flags, key=RED_FLAGS.index)
        out.facts += [flags[k] for k in out.values["red_flags"]]
    elif none_said is not None:
        out.values["red_flags"] = []
        out.facts.append(none_said)
    return out
