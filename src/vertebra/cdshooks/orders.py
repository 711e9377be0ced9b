"""Draft orders against the plan: which drugs are being ordered, and do they conflict?

A draft medication order is matched to the drug vocabulary through the shipped value sets
(RxNorm, WHO ATC; ``maps_to``), then by the drug names in its text (names as data:
``terminology/medicine-names.yaml``, the same names the FHIR intake uses). Conflicts come from
the knowledge base's drug-safety rows and the recorded allergies, evaluated against this
patient's facts by the engine's own evaluator: the same rule that turns a recommended drug into
``avoid`` or ``contraindicated`` in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vertebra import terminology
from vertebra.facts import DRUGS, PatientFacts
from vertebra.knowledge import KnowledgeBase

DRUG_VALUESETS = ("osteoporosis-medication", "analgesic-medication")
ORDER_TYPES = (
    "MedicationRequest",
    "MedicationOrder",
    "MedicationStatement",
    "ServiceRequest",
    "NutritionOrder",
)


@dataclass(frozen=True)
class DraftOrder:
    reference: str  # "MedicationRequest/123"
    resource_type: str
    drugs: tuple[str, ...]
    label: str


@dataclass
class DrugConflict:
    drug: str
    action: str  # "avoid" | "contraindicated" | "check"
    reasons: list[str] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    safety_ids: list[str] = field(default_factory=list)


def _concepts(resource: dict[str, Any]) -> list[Any]:
    out = [resource.get("medicationCodeableConcept"), resource.get("code")]
    medication = resource.get("medication")
    if isinstance(medication, dict):  # R5 CodeableReference
        out.append(medication.get("concept"))
    return [c for c in out if isinstance(c, dict)]


def order_drugs(resource: dict[str, Any]) -> tuple[str, ...]:
    """Vocabulary drugs a draft order is for (by code first, then by words in its text)."""
    found: dict[str, None] = {}
    texts: list[str] = []
    for concept in _concepts(resource):
        for coding in concept.get("coding") or []:
            if not isinstance(coding, dict):
                continue
            for vs_id in DRUG_VALUESETS:
                entry = terminology.load(vs_id).find(coding.get("system"), coding.get("code"))
                if entry is not None and entry.maps_to in DRUGS:
                    found[entry.maps_to] = None
            if isinstance(coding.get("display"), str):
                texts.append(coding["display"])
        if isinstance(concept.get("text"), str):
            texts.append(concept["text"])
    if not found:
        names = terminology.medicine_names()
        for text in texts:
            for drug in names.words_in(text, DRUGS):
                found[drug] = None
    return tuple(found)


def draft_orders(bundle: Any, selections: list[str] | None = None) -> list[DraftOrder]:
    """Draft orders in a ``draftOrders`` Bundle (only the selected ones when given)."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    out: list[DraftOrder] = []
    wanted = set(selections) if selections is not None else None
    for entry in entries or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        rtype = str(resource.get("resourceType", ""))
        ref = f"{rtype}/{resource.get('id', '')}"
        if wanted is not None and ref not in wanted:
            continue
        if rtype not in ORDER_TYPES:
            continue
        drugs = order_drugs(resource)
        label = next(
            (c.get("text") for c in _concepts(resource) if isinstance(c.get("text"), str)),
            None,
        ) or (", ".join(drugs) if drugs else rtype)
        out.append(DraftOrder(reference=ref, resource_type=rtype, drugs=drugs, label=str(label)))
    return out


def drug_conflicts(kb: KnowledgeBase, facts: PatientFacts, drug: str) -> DrugConflict | None:
    """What the knowledge base says about giving ``drug`` to this patient (None: no concern)."""
    from vertebra.engine import drug_safety

    conflict = DrugConflict(drug=drug, action="check")
    strength = {"check": 0, "avoid": 1, "contraindicated": 2}
    for finding in drug_safety(facts, drug, kb):
        if finding.rule == "allergy":
            conflict.action = "contraindicated"
            conflict.reasons.insert(0, finding.reason)
            conflict.rationale.extend(finding.rationale)
            continue
        conflict.references.extend(finding.references)
        conflict.safety_ids.append(finding.rule)
        if finding.action == "check":
            conflict.unknown.extend(finding.unknown)
            conflict.checks.append(finding.reason)
            continue
        if strength[finding.action] > strength[conflict.action]:
            conflict.action = finding.action
        conflict.reasons.append(finding.reason)
        conflict.rationale.extend(finding.rationale)
        if finding.alternative:
            conflict.alternatives.append(finding.alternative)
    if conflict.action == "check" and not conflict.unknown:
        return None  # no row applies and none is undecided
    conflict.reasons = list(dict.fromkeys(conflict.reasons))
    conflict.rationale = list(dict.fromkeys(conflict.rationale))
    conflict.references = list(dict.fromkeys(conflict.references))
    conflict.unknown = list(dict.fromkeys(conflict.unknown))
    conflict.checks = list(dict.fromkeys(conflict.checks))
    return conflict


def with_plan_verdict(conflict: DrugConflict | None, plan: Any, drug: str) -> DrugConflict | None:
    """``conflict`` made at least as strong as the plan's own verdict on ``drug``.

    The plan may advise against a drug for reasons outside the drug-safety rows (e.g. calcitonin:
    the regulator's position, a conflicts.yaml decision): every ``avoid`` or ``contraindicated``
    verdict in the plan must show on a draft order for that drug."""
    strength = {"check": 0, "avoid": 1, "contraindicated": 2}
    verdicts = [
        r
        for r in (plan.recommendations if plan is not None else [])
        if r.drug == drug and r.action in ("avoid", "contraindicated")
    ]
    for rec in verdicts:
        if conflict is None:
            conflict = DrugConflict(drug=drug, action="check")
        if strength[rec.action] > strength[conflict.action]:
            conflict.action = rec.action
        reason = rec.title
        if reason not in conflict.reasons:
            conflict.reasons.append(reason)
        conflict.rationale.extend(r for r in rec.rationale if r not in conflict.rationale)
        conflict.references.extend(c for c in rec.citations if c not in conflict.references)
        if rec.id not in conflict.safety_ids:
            conflict.safety_ids.append(rec.id)
    return conflict
