"""The plan at a glance: what a busy clinician needs first, derived from the plan alone.

One place for the web page, the printed plan, the text and the Markdown renderings:

1. **Immediate actions** — recommendations with urgency ``immediate``.
2. **Safety constraints** — the patient's findings that made the plan avoid or contraindicate a
   medicine (kidney function, allergies, anticoagulants, pregnancy …), each with the medicines it
   rules out. Nothing here is a clinical rule: a constraint is a line of an avoided or
   contraindicated medicine's ``rationale`` about a fact that a drug-safety row it fired reads
   (its reason is among the line's cautions), or that the recommendation's own decision table
   does not read — i.e. what the drug-safety verdict (or a recorded allergy) added. A medicine
   avoided for everyone (no such line) is not a patient constraint and stays in the full plan.
3. **Next steps** — the five most important things to do: immediate, then urgent, then one per
   category (referral, imaging, analgesia, bone protection, mobilisation, …) in the earliest
   timeline slot; never an avoided or contraindicated line. The
   line that asks to start bone protection names the bone-protection medicines the plan still
   offers, or, when none is left, the alternatives the avoided ones name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from vertebra.facts import BoneDrug
from vertebra.knowledge import KnowledgeBase, load
from vertebra.knowledge.conditions import facts_used
from vertebra.plan import Plan, Recommendation

NEXT_STEPS = 5
AVOIDED = ("avoid", "contraindicated")
_URGENCY = {"immediate": 0, "urgent": 1}
#: Order of the next steps after urgency (presentation only): one step per category, so the five
#: lines cover referral, imaging, pain, bone protection and mobilisation before anything else.
STEP_CATEGORIES = (
    "referral",
    "imaging",
    "analgesia",
    "bone_health",
    "mobilisation",
    "laboratory",
    "assessment",
    "procedure",
    "follow_up",
    "education",
)
#: Bone-protection medicines: the contract's vocabulary for ``osteoporosis_drug``.
BONE_DRUGS = frozenset(get_args(BoneDrug))
_ALTERNATIVE = "Alternative: "


@dataclass(frozen=True)
class RuledOut:
    rec: Recommendation
    name: str  # the medicine in words


@dataclass
class Constraint:
    """One of the patient's findings and the medicines it rules out."""

    finding: str  # e.g. "Creatinine clearance: 24 mL/min (< 30)"
    rules_out: list[RuledOut] = field(default_factory=list)

    @property
    def label(self) -> str:  # e.g. "Creatinine clearance"
        return self.finding.partition(": ")[0]

    @property
    def drugs(self) -> str:
        return ", ".join(r.name for r in self.rules_out)


@dataclass(frozen=True)
class Step:
    rec: Recommendation
    text: str  # the title, completed for "start bone protection"


@dataclass(frozen=True)
class Glance:
    immediate: list[Recommendation]
    constraints: list[Constraint]
    next_steps: list[Step]
    usable_bone_drugs: list[str]
    bone_alternatives: list[str]

    @property
    def empty(self) -> bool:
        return not (self.immediate or self.constraints or self.next_steps)


def is_avoided(rec: Recommendation) -> bool:
    """Avoided and contraindicated lines: shown with why, never with a dose to give."""
    return rec.action in AVOIDED


def _row_inputs(kb: KnowledgeBase) -> dict[str, set[str]]:
    """Row id -> labels of the facts its decision table (trigger and row) reads."""
    return {
        r.row.id: {kb.label(name) for name in (*facts_used(t.table.applies_when), *r.inputs)}
        for t in kb.tables
        for r in t.rows
    }


def _safety_labels(rec: Recommendation, kb: KnowledgeBase) -> set[str]:
    """Labels of the facts read by the drug-safety rows that fired on ``rec``."""
    cautions = set(rec.cautions)
    return {
        kb.label(name)
        for srow in kb.safety_for(rec.drug or "")
        if srow.row.reason in cautions
        for name in facts_used(srow.row.when)
    }


def constraints(plan: Plan, kb: KnowledgeBase) -> list[Constraint]:
    row_labels = _row_inputs(kb)
    found: dict[str, Constraint] = {}
    for rec in plan.recommendations:
        if rec.drug is None or not is_avoided(rec):
            continue
        own = row_labels.get(rec.id, set()) - _safety_labels(rec, kb)
        for line in rec.rationale:
            label, sep, _ = line.partition(": ")
            if not sep or label in own or label.startswith(("Still unknown", "Not yet")):
                continue
            c = found.setdefault(line, Constraint(line))
            if all(r.rec.drug != rec.drug for r in c.rules_out):
                c.rules_out.append(RuledOut(rec, kb.drug_name(rec.drug)))
    order = list(dict.fromkeys(c.label for c in found.values()))
    return sorted(found.values(), key=lambda c: order.index(c.label))


def _bone(plan: Plan, kb: KnowledgeBase) -> tuple[list[str], list[str]]:
    usable: list[str] = []
    alternatives: list[str] = []
    for rec in plan.recommendations:
        if rec.drug not in BONE_DRUGS:
            continue
        if is_avoided(rec):
            for c in rec.cautions:
                if c.startswith(_ALTERNATIVE) and c[len(_ALTERNATIVE) :] not in alternatives:
                    alternatives.append(c[len(_ALTERNATIVE) :])
        else:
            name = kb.drug_name(rec.drug or "")
            shown = name if rec.action == "do" else f"{name} ({rec.action})"
            if shown not in usable:
                usable.append(shown)
    return usable, alternatives


def _step_text(rec: Recommendation, usable: list[str], alternatives: list[str]) -> str:
    if rec.category != "bone_health" or rec.drug is not None:
        return rec.title
    if usable:
        return f"{rec.title}: {', '.join(usable)}"
    if alternatives:
        return f"{rec.title}: no bone-protection medicine offered is usable — {alternatives[0]}"
    return rec.title


def glance(plan: Plan, kb: KnowledgeBase | None = None) -> Glance:
    """The plan at a glance (see the module docstring)."""
    kb = kb or load()
    usable, alternatives = _bone(plan, kb)
    slot_order = {s.id: i for i, s in enumerate(plan.timeline)}
    order = {r.id: i for i, r in enumerate(plan.recommendations)}
    candidates = [r for r in plan.recommendations if r.action in ("do", "consider")]
    rank = {c: i for i, c in enumerate(STEP_CATEGORIES)}
    candidates.sort(
        key=lambda r: (
            _URGENCY.get(r.urgency or "", 2),
            r.action != "do",
            rank.get(r.category, len(rank)),
            slot_order.get(r.timing, len(slot_order)),
            order[r.id],
        )
    )
    chosen: list[Recommendation] = []
    seen: set[str] = set()
    for r in candidates:  # urgent lines always; otherwise one per category
        if r.urgency in _URGENCY or r.category not in seen:
            chosen.append(r)
            seen.add(r.category)
    for r in candidates:  # fill up when the plan has few categories
        if len(chosen) >= NEXT_STEPS:
            break
        if r not in chosen:
            chosen.append(r)
    steps = [Step(r, _step_text(r, usable, alternatives)) for r in chosen[:NEXT_STEPS]]
    return Glance(
        immediate=[r for r in plan.recommendations if r.urgency == "immediate"],
        constraints=constraints(plan, kb),
        next_steps=steps,
        usable_bone_drugs=usable,
        bone_alternatives=alternatives,
    )


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "fact")`` → "1 fact"; ``plural(2, "fact")`` → "2 facts"."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
