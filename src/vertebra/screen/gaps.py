"""Care gaps per worklist patient: simple coded gaps, and drug-safety gaps from the plan engine.

The plan engine (:func:`vertebra.engine.plan`) is imported lazily: without it, screening still
runs and reports that plan-engine checks were not available.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from vertebra.facts import DRUGS, LEVELS, PatientFacts

PlanFn = Callable[[PatientFacts], Any]

# PatientFacts requires at least one level; when codes do not give one, this placeholder is used
# only to ask the engine about drug safety (levels do not change those recommendations).
PLACEHOLDER_LEVEL = "L1"


def coded_gaps(row: Mapping[str, Any]) -> list[str]:
    """Gaps visible directly in the coded data (ids, stable)."""
    gaps: list[str] = []
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


def load_plan_engine() -> PlanFn | None:
    """``vertebra.engine.plan`` if the plan engine is installed, else None."""
    try:
        module = importlib.import_module("vertebra.engine")
    except ImportError:
        return None
    fn = getattr(module, "plan", None)
    return fn if callable(fn) else None


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
        "fracture_levels": levels or [PLACEHOLDER_LEVEL],
        "mechanism": "low_energy",
    }
    if row.get("days_since_fracture") is not None:
        data["days_since_onset"] = int(row["days_since_fracture"])
    drug = row.get("current_drug")
    if drug in DRUGS:
        data["osteoporosis_drug"] = drug
    if row.get("egfr") is not None:
        data["creatinine_clearance"] = float(row["egfr"])
    if row.get("t_score_lowest") is not None and -7 <= float(row["t_score_lowest"]) <= 4:
        data["t_score"] = float(row["t_score_lowest"])
    if row.get("prior_fracture_count") is not None:
        data["prior_fragility_fractures"] = int(row["prior_fracture_count"])
    try:
        return PatientFacts.model_validate(data)
    except ValidationError:
        return None


class PlanGaps:
    """Asks the plan engine about each patient's current drug; caches identical facts."""

    def __init__(self, plan_fn: PlanFn | None, as_of: date) -> None:
        self.plan_fn = plan_fn
        self.as_of = as_of
        self.errors = 0
        self._cache: dict[str, list[str]] = {}

    @property
    def available(self) -> bool:
        return self.plan_fn is not None

    def __call__(self, row: Mapping[str, Any]) -> list[str]:
        drug = row.get("current_drug")
        if self.plan_fn is None or drug is None:
            return []
        facts = facts_for(row, self.as_of)
        if facts is None:
            return []
        key = json.dumps(facts.model_dump(mode="json"), sort_keys=True)
        if key not in self._cache:
            self._cache[key] = self._ask(facts, drug)
        return self._cache[key]

    def _ask(self, facts: PatientFacts, drug: str) -> list[str]:
        assert self.plan_fn is not None
        try:
            plan = self.plan_fn(facts)
        except Exception:  # an engine failure must not stop a population run; it is counted
            self.errors += 1
            return []
        found = []
        for rec in getattr(plan, "recommendations", []):
            if getattr(rec, "drug", None) == drug and getattr(rec, "action", None) in (
                "avoid",
                "contraindicated",
            ):
                found.append(f"{rec.action}:{drug}:{rec.id}")
        return sorted(set(found))
