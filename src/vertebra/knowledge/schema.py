"""The shape of the knowledge files. Every model rejects unknown keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vertebra.plan import Action, Category, Strength, Target, Urgency


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Manifest(_Strict):
    name: str
    version: str
    reviewed: str = Field(description="Date of the last review of the files (YYYY-MM-DD)")
    reviewers: list[str]
    review_status: Literal["awaiting_clinical_review", "clinically_reviewed"] = Field(
        description="Whether independent clinicians have reviewed this version"
    )
    changelog: list[str]

    @property
    def review_statement(self) -> str:
        """The one sentence every page, the printed plan and the docs use about review."""
        if self.review_status == "clinically_reviewed":
            return (
                f"Knowledge base {self.version}: clinically reviewed on {self.reviewed} by "
                f"{'; '.join(self.reviewers)}."
            )
        return (
            f"Knowledge base {self.version}: assembled from its cited sources by "
            f"{'; '.join(self.reviewers)}, last checked {self.reviewed}; it awaits independent "
            "clinical review."
        )


class Source(_Strict):
    id: str
    title: str
    organisation: str
    year: int
    url: str | None = None
    kind: Literal["seed", "guideline", "regulatory", "label", "research", "codes", "indicator"]
    note: str | None = None


class Bibliography(_Strict):
    sources: list[Source]


class FactLabel(_Strict):
    label: str
    unit: str | None = None


class Slot(_Strict):
    id: str
    when: str
    weeks: float | None = None


class Vocabulary(_Strict):
    facts: dict[str, FactLabel]
    values: dict[str, str] = Field(description="Vocabulary word -> words for clinicians")
    drugs: dict[str, str] = Field(description="Drug vocabulary word -> display name")
    timeline: list[Slot]


class MedicineClassEntry(_Strict):
    label: str


class MedicineEntry(_Strict):
    label: str
    atc: str = Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")
    classes: list[str]


class AllergyClassEntry(_Strict):
    label: str
    members: list[str] = Field(min_length=1)
    cross_reactive: bool


class BoneDrugGroup(_Strict):
    label: str
    why: str
    members: list[str] = Field(min_length=1)


class Medicines(_Strict):
    """``medicines.yaml``: other current medicines, their classes, allergy classes, and the
    groups of bone drugs that FHIR intake reads differently."""

    classes: dict[str, MedicineClassEntry]
    medicines: dict[str, MedicineEntry]
    allergy_classes: dict[str, AllergyClassEntry]
    bone_drug_groups: dict[str, BoneDrugGroup]


class DerivedCase(_Strict):
    when: dict[str, Any]
    value: str | bool
    why: str | None = None


class Derived(_Strict):
    """A derived fact. Exactly one way of computing it: ``cases`` (first true case gives the
    value), ``first_known`` (the value of the first of these facts that is known, e.g. renal
    function from creatinine clearance, else eGFR; the plan's rationale names the one used) or
    ``classes_of`` (the classes, from ``medicines.yaml``, of every word in a medicines list)."""

    name: str
    label: str
    description: str
    cases: list[DerivedCase] = Field(default_factory=list)
    first_known: list[str] | None = None
    classes_of: str | None = None
    default: str | bool | None = None
    on_unknown: Literal["stop", "continue"] = "stop"
    ask_when: dict[str, Any] | None = Field(
        default=None,
        description="Name the facts this derived fact needs as missing information only when "
        "this condition is not false (e.g. not for an out-of-scope plan)",
    )
    references: list[str] = Field(min_length=1)


class DerivedFile(_Strict):
    derived: list[Derived]


class Outcome(_Strict):
    """What a row recommends: the recommendation fields of docs/contract.md §2."""

    category: Category
    action: Action
    title: str
    detail: str
    strength: Strength
    timing: str
    target: Target | None = None
    urgency: Urgency | None = None
    drug: str | None = None
    dose: str | None = None
    conflicts: list[str] = Field(default_factory=list)
    cautions: list[str] = Field(default_factory=list)
    decision: str | None = Field(
        default=None,
        description="What this row decides (a procedure, e.g. 'augmentation'); a medicine's "
        "decision is its drug. One verdict per decision per plan.",
    )
    only_if_unusable: list[str] = Field(
        default_factory=list,
        description="Drugs that must not be usable in the same plan for this one to be offered "
        "(e.g. strontium only when zoledronic acid and denosumab cannot be used)",
    )
    requires: list[str] = Field(
        default_factory=list,
        description="Companion drugs that must be usable too (e.g. oxycodone requires a laxative)",
    )


class RowTest(_Strict):
    """Each row's own test case: partial facts laid over the test suite's baseline patient."""

    fires_with: dict[str, Any]
    silent_with: dict[str, Any] | None = None


class Row(_Strict):
    id: str
    when: dict[str, Any] = Field(default_factory=dict)
    then: Outcome
    if_unknown: Literal["skip", "consider"] = "skip"
    why: str | None = Field(
        default=None, description="Why the row's unknown facts matter (missing_information)"
    )
    annotation: str
    references: list[str] = Field(min_length=1)
    test: RowTest


class Table(_Strict):
    id: str
    title: str
    trigger: str
    applies_when: dict[str, Any] = Field(default_factory=dict)
    hit_policy: Literal["unique", "first", "priority", "collect"] = Field(
        description="How overlapping rows resolve (DMN): unique = rows never overlap (the lint "
        "proves it); first = the first true row only; priority = per decision, the strongest "
        "action wins (contraindicated > avoid > do > consider); collect = every true row, and "
        "the lint proves no two give opposite verdicts on one decision"
    )
    rows: list[Row] = Field(min_length=1)


class SafetyRow(_Strict):
    """A drug-safety row. ``avoid``/``contraindicated`` block the drug (no dose is shown);
    ``adjust`` replaces the dose with ``dose`` (the first true adjust row of a drug wins, others
    are listed as cautions); ``caution`` adds the reason as a caution. ``at_most: consider`` also
    turns a ``do`` into ``consider`` (e.g. specialist supervision needed). Rows name ``drugs``
    or, for procedures, ``recommendations`` (row ids)."""

    id: str
    drugs: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    when: dict[str, Any]
    action: Literal["avoid", "contraindicated", "adjust", "caution"]
    reason: str
    dose: str | None = None
    at_most: Literal["consider"] | None = None
    alternative: str | None = None
    why: str | None = None
    references: list[str] = Field(min_length=1)
    test: RowTest


class SafetyTable(_Strict):
    id: str
    title: str
    trigger: str
    rows: list[SafetyRow] = Field(min_length=1)


class Position(_Strict):
    source: str
    position: str


class ConflictEntry(_Strict):
    id: str
    topic: str
    summary: str
    positions: list[Position] = Field(min_length=2)
    followed: str


class ConflictFile(_Strict):
    conflicts: list[ConflictEntry]
