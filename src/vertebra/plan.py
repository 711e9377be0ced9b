"""The plan: the output of every vertebra adapter (docs/contract.md §2)."""

from __future__ import annotations

import operator
from datetime import date
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

Pathway = Literal["stable", "potentially_unstable", "pathological_suspected", "out_of_scope"]
Phase = Literal["acute", "subacute", "chronic", "unknown"]
Category = Literal[
    "assessment",
    "referral",
    "imaging",
    "laboratory",
    "analgesia",
    "mobilisation",
    "bone_health",
    "procedure",
    "follow_up",
    "education",
]
Action = Literal["do", "consider", "avoid", "contraindicated"]
Target = Literal[
    "fracture_liaison_service",
    "osteoporosis_specialist",
    "spine_surgery",
    "interventional_radiology",
    "pain_service",
    "physiotherapy",
    "oncology_mdt",
]
Urgency = Literal["immediate", "urgent", "routine"]
Strength = Literal["strong", "moderate", "weak", "consensus", "insufficient"]

CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
TARGETS: tuple[str, ...] = Target.__args__  # type: ignore[attr-defined]
URGENCIES: tuple[str, ...] = Urgency.__args__  # type: ignore[attr-defined]
STRENGTHS: tuple[str, ...] = Strength.__args__  # type: ignore[attr-defined]


def urgency_rank(urgency: str | None) -> int:
    """Sort key: most urgent first (the order of :data:`Urgency`), no urgency last."""
    return URGENCIES.index(urgency) if urgency in URGENCIES else len(URGENCIES)


def is_urgent(urgency: str | None) -> bool:
    """``immediate`` or ``urgent``: every urgency but the last (routine)."""
    return urgency_rank(urgency) < len(URGENCIES) - 1


class _Out(BaseModel):
    # The engine builds plans from validated knowledge without validating them again
    # (engine/core.py ``_build``): the validators and serialisers are built on first use only
    # (an HTTP response model, ``model_dump``), not at every CLI start.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Recommendation(_Out):
    id: str
    category: Category
    action: Action
    target: Target | None = None
    urgency: Urgency | None = None
    drug: str | None = None
    dose: str | None = None
    title: str
    detail: str
    rationale: list[str]
    citations: list[str] = Field(min_length=1)
    strength: Strength
    table: str = Field(description="Decision table the recommendation came from")
    timing: str = Field(description="Timeline slot id")
    conflicts: list[str] = Field(default_factory=list, description="Conflict topics it follows")
    cautions: list[str] = Field(default_factory=list)


class Position(_Out):
    source: str
    position: str


class Conflict(_Out):
    id: str
    topic: str
    summary: str
    positions: list[Position]
    followed: str = Field(description="Which position vertebra follows, and why")


class MissingInformation(_Out):
    field: str
    why: str
    tables: list[str] = Field(default_factory=list)


class TimelineEntry(_Out):
    id: str
    when: str
    weeks: float | None = Field(description="Position on a weeks axis; None for recurring")
    recommendations: list[str]


class Source(_Out):
    id: str
    title: str
    organisation: str
    year: int
    url: str | None = None
    kind: str | None = Field(
        default=None,
        description="What the source is: seed (Q&A seed document), guideline, regulatory, "
        "label, research, codes or indicator",
    )


class TextEvidence(_Out):
    """Facts read from report or note text, with the resource and the sentence (an addition
    to §2)."""

    resource: str = Field(description="The report or note, e.g. DiagnosticReport/123")
    date: date | None
    facts: list[str] = Field(description="What the sentence supplied")
    levels: list[str]
    acuity: str | None = Field(
        description="acute, chronic, old, healed or age_indeterminate, as the text says"
    )
    sentence: str = Field(description="The sentence, quoted as written")


class Plan(_Out):
    knowledge_version: str
    pathway: Pathway
    phase: Phase
    recommendations: list[Recommendation]
    conflicts: list[Conflict]
    missing_information: list[MissingInformation]
    timeline: list[TimelineEntry]
    sources: list[Source]
    summary: str = Field(description="One-line summary of the pathway and the most urgent action")
    facts_from_text: list[TextEvidence] = Field(
        default_factory=list,
        description="Facts that came from free text in FHIR input: report text (no coded "
        "fracture) and notes (Condition.note, Observation.note), each with the resource and the "
        "quoted sentence; left out of the JSON when empty",
    )

    def to_json(self) -> str:
        """Deterministic JSON: same plan, byte-identical text."""
        return self.to_json_bytes().decode()

    def to_json_bytes(self) -> bytes:
        """:meth:`to_json` as UTF-8 bytes, what an HTTP response sends (decoding 50 kB of text
        to ``str`` and encoding it again costs more than writing it).

        The same bytes as ``model_dump_json(indent=2)`` (``facts_from_text`` left out when
        empty; tests/engine/test_plan_json.py checks the two agree), written by orjson from the
        models' field values, which is about 3x faster."""
        values = self.__dict__
        if not self.facts_from_text:
            values = {k: v for k, v in values.items() if k != "facts_from_text"}
        return orjson.dumps(values, default=_fields, option=orjson.OPT_INDENT_2)


_fields = operator.attrgetter("__dict__")
"""orjson's ``default``: a plan's nested models as their field values, in field order (only
pydantic models reach it; orjson writes strings, numbers, lists and dates itself)."""
