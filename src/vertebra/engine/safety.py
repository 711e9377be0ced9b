"""One drug for one patient, checked against the knowledge base's drug-safety rows.

A cheap entry point for adapters that ask about a single drug — a draft order in CDS Hooks, a
current prescription in population screening — without building a whole plan. It evaluates the
same safety rows, on the same facts (derived facts included), as :func:`vertebra.engine.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vertebra.engine.core import context
from vertebra.facts import PatientFacts
from vertebra.knowledge import KnowledgeBase, load
from vertebra.knowledge.conditions import facts_used

Verdict = Literal["avoid", "contraindicated", "check"]


@dataclass(frozen=True)
class SafetyFinding:
    """One rule that applies (``avoid``/``contraindicated``) or cannot be decided (``check``)."""

    rule: str
    action: Verdict
    reason: str
    alternative: str | None
    rationale: tuple[str, ...]
    unknown: tuple[str, ...]
    references: tuple[str, ...]


def drug_safety(
    facts: PatientFacts, drug: str, kb: KnowledgeBase | None = None
) -> list[SafetyFinding]:
    """Every finding that can block ``drug``: avoid/contraindicated rows that hold, such rows whose
    facts are unknown (``check``), and a recorded allergy to it, to its allergy class or to a
    cross-reactive member of its class (rule ``allergy``). Dose-adjustment and caution rows do not
    block a drug and are not reported here (the plan shows them). Empty when nothing applies and
    nothing is undecided."""
    kb = kb or load()
    ctx = context(facts, kb)
    found: list[SafetyFinding] = []
    allergy = kb.allergy(drug, facts.allergies)  # the plan's own allergy rule
    if allergy is not None:
        found.append(
            SafetyFinding(
                rule="allergy",
                action="contraindicated",
                reason=allergy.caution,
                alternative=None,
                rationale=(allergy.rationale,),
                unknown=(),
                references=(),
            )
        )
    for srow in kb.safety_for(drug):
        if srow.row.action not in ("avoid", "contraindicated"):
            continue
        out = srow.when(ctx)
        if out.value is False:
            continue
        action: Verdict = "check"
        if out.value:
            action = "avoid" if srow.row.action == "avoid" else "contraindicated"
        found.append(
            SafetyFinding(
                rule=srow.row.id,
                action=action,
                reason=srow.row.reason,
                alternative=srow.row.alternative,
                rationale=out.reasons,
                unknown=tuple(sorted(out.unknown)) if out.value is None else (),
                references=tuple(srow.row.references),
            )
        )
    return found


def safety_inputs(drug: str, kb: KnowledgeBase | None = None) -> frozenset[str]:
    """The patient facts that :func:`drug_safety` for ``drug`` can depend on: the facts its
    safety rows read, derived facts replaced by the facts they are computed from, and
    ``allergies``. Two patients who agree on these facts get the same findings, so callers that
    check many patients (population screening) can evaluate each distinct combination once."""
    kb = kb or load()
    found: set[str] = {"allergies"}
    todo = [
        name
        for srow in kb.safety_for(drug)
        if srow.row.action in ("avoid", "contraindicated")
        for name in facts_used(srow.row.when)
    ]
    return frozenset(found | base_facts(todo, kb))


def base_facts(names: list[str], kb: KnowledgeBase | None = None) -> set[str]:
    """Patient facts behind ``names``: derived facts replaced by the facts they are computed
    from (recursively)."""
    kb = kb or load()
    derived = {d.spec.name: d.spec for d in kb.derived}
    found: set[str] = set()
    todo = list(names)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = derived.get(name)
        if spec is None:
            found.add(name)
            continue
        todo.extend(n for case in spec.cases for n in facts_used(case.when))
        todo.extend(spec.first_known or ())
        if spec.classes_of is not None:
            todo.append(spec.classes_of)
    return found
