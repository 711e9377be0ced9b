"""Care gaps per worklist patient: simple coded gaps, and drug-safety gaps from the plan engine.

The plan engine (:func:`vertebra.engine.drug_safety`) is imported on first use, so that
``vertebra screen`` starts without loading the knowledge base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from vertebra.facts import DRUGS, LEVELS, PatientFacts, RecordFacts, in_range

# The engine's drug-safety check: (facts, drug) -> findings (vertebra.engine.drug_safety).
PlanFn = Callable[[PatientFacts, str], Any]
# The facts that check reads for one drug (vertebra.engine.safety_inputs).
InputsFn = Callable[[str], Iterable[str]]


# The row fields that facts_for reads (with the cut-off date, they determine the facts).
FACT_INPUTS = (
    "sex",
    "birth_date",
    "fracture_levels",
    "days_since_fracture",
    "current_drug",
    "egfr",
    "t_score_lowest",
    "prior_fracture_count",
)


# A vertebral fracture described in report text with no coded vertebral fracture.
REPORTED_NOT_CODED = "vertebral_fracture_reported_not_coded"


def coded_gaps(row: Mapping[str, Any]) -> list[str]:
    """Gaps visible directly in the data (ids, stable)."""
    gaps: list[str] = []
    if row.get("vertebral_fracture") and row.get("vertebral_fracture_coded") is False:
        gaps.append(REPORTED_NOT_CODED)
    if not row.get("patient_record_found"):
        gaps.append("patient_record_missing")
    if row.get("dxa_within_12_weeks") is False:
        gaps.append("no_dxa_within_12_weeks")
    if row.get("medication_started_within_16_weeks") is False:
        gaps.append("no_medication_within_16_weeks")
    if row.get("medication_at_52_weeks") is False:
        gaps.append("medication_not_continued_at_52_weeks")
    if row.get("current_drug") is None and not row.get("deceased"):
        gaps.append("no_current_osteoporosis_medication")
    return gaps


def load_plan_engine() -> PlanFn:
    """``vertebra.engine.drug_safety`` (the plan engine's drug-safety rows for one drug)."""
    from vertebra.engine import drug_safety

    return drug_safety


def facts_for(row: Mapping[str, Any], as_of: date) -> PatientFacts | None:
    """Patient facts from the coded data, or None when age/sex are not known."""
    sex = row.get("sex")
    birth = row.get("birth_date")
    if sex not in ("female", "male") or birth is None:
        return None
    age = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    levels = [lv for lv in LEVELS if lv in set(row.get("fracture_levels") or [])]
    data: dict[str, Any] = {
        "age": age,
        "sex": sex,
        "fracture_levels": levels or None,  # a record may code a fracture without its level
        "mechanism": "low_energy",
    }
    if row.get("days_since_fracture") is not None:
        data["days_since_onset"] = int(row["days_since_fracture"])
    drug = row.get("current_drug")
    if drug in DRUGS:
        data["osteoporosis_drug"] = drug
    if row.get("egfr") is not None:
        data["creatinine_clearance"] = float(row["egfr"])
    if row.get("t_score_lowest") is not None and in_range("t_score", row["t_score_lowest"]):
        data["t_score"] = float(row["t_score_lowest"])
    if row.get("prior_fracture_count") is not None:
        data["prior_fragility_fractures"] = int(row["prior_fracture_count"])
    try:
        return RecordFacts.model_validate(data)
    except ValidationError:
        return None


def drug_gaps(findings: Any, drug: str) -> list[str]:
    """``action:drug:rule`` for each safety rule that makes the drug *avoid*/*contraindicated*
    (rule: a drug-safety row id of the knowledge base, or ``allergy``)."""
    found = [
        f"{f.action}:{drug}:{f.rule}"
        for f in findings
        if getattr(f, "action", None) in ("avoid", "contraindicated")
    ]
    return sorted(set(found))


def load_safety_inputs() -> InputsFn:
    """``vertebra.engine.safety_inputs`` (the facts a drug's safety check reads)."""
    from vertebra.engine import safety_inputs

    return safety_inputs


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


class PlanGaps:
    """Asks the plan engine about each patient's current drug.

    Patients whose facts agree on everything the drug's safety check reads (``inputs_fn``, e.g.
    :func:`vertebra.engine.safety_inputs`: renal function, conditions, allergies) get the same
    findings, so each distinct combination is evaluated once; without ``inputs_fn`` the whole
    facts are the key. Results are identical to asking one patient at a time.
    """

    def __init__(self, plan_fn: PlanFn, as_of: date, inputs_fn: InputsFn | None = None) -> None:
        self.plan_fn = plan_fn
        self.as_of = as_of
        self.inputs_fn = inputs_fn
        self.errors = 0
        self.evaluated = 0
        self._cache: dict[tuple[Any, ...], list[str]] = {}
        self._inputs: dict[str, tuple[str, ...] | None] = {}

    def _key(self, facts: PatientFacts, drug: str) -> tuple[Any, ...]:
        if drug not in self._inputs:
            names = self.inputs_fn(drug) if self.inputs_fn is not None else None
            self._inputs[drug] = None if names is None else tuple(sorted(names))
        names = self._inputs[drug]
        if names is None:
            return (drug, _frozen(facts.model_dump()))
        return (drug, *(_frozen(getattr(facts, n, None)) for n in names))

    def many(self, rows: Iterable[Mapping[str, Any]]) -> list[list[str]]:
        """Gaps for each row (a worklist row: see :data:`FACT_INPUTS`)."""
        out: list[list[str]] = []
        for row in rows:
            drug = row.get("current_drug")
            facts = None if drug is None else facts_for(row, self.as_of)
            if facts is None or drug is None:
                out.append([])
                continue
            key = self._key(facts, drug)
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = self._ask(facts, drug)
            out.append(found)
        return out

    def __call__(self, row: Mapping[str, Any]) -> list[str]:
        return self.many([row])[0]

    def _ask(self, facts: PatientFacts, drug: str) -> list[str]:
        self.evaluated += 1
        try:
            findings = self.plan_fn(facts, drug)
        except Exception:  # an engine failure must not stop a population run; it is counted
            self.errors += 1
            return []
        return drug_gaps(findings, drug)
