"""The shipped FHIR examples are valid R4 Bundles, convert as documented, and plan."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.requestgroup import RequestGroup

from vertebra.engine import plan
from vertebra.fhir import plan_to_fhir, to_facts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "fhir"
TODAY = date(2026, 11, 21)


def load(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_example_is_a_valid_r4_bundle_and_plans(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    Bundle.model_validate(data)
    got = to_facts(data, today=TODAY, default_level="T12")
    group = plan_to_fhir(plan(got.facts), patient_ref="Patient/example")
    RequestGroup.model_validate(group)


def test_l1_example() -> None:
    got = to_facts(load("l1-fracture-alendronate.json"), today=TODAY)
    f = got.facts
    assert (f.age, f.sex, f.fracture_levels, f.days_since_onset) == (78, "female", ["L1"], 22)
    assert (f.t_score, f.creatinine_clearance, f.pain_score, f.weight_kg) == (-3.1, 48, 7, 58)
    assert f.osteoporosis_drug == "alendronate"
    assert f.allergies == ["ibuprofen"]
    assert got.unmapped == []


def test_untidy_searchset_example() -> None:
    got = to_facts(load("t12-searchset-untidy.json"), today=TODAY)
    f = got.facts
    assert f.fracture_levels == ["T12"]
    assert f.age == 84  # birth year 1941 only: youngest possible age
    assert f.mechanism is None
    assert f.conditions == ["mi_or_stroke_history"]
    assert f.osteoporosis_drug == "zoledronic_acid"
    assert f.pain_score is None
    reported = {(u.resource_id, u.code) for u in got.unmapped}
    assert {("vcf", "VCF-THOR"), ("free-text", None), ("pain-missing", "72514-3")} <= reported
    assert any("bodySite" in n and "T12" in n for n in got.notes)


def test_synthea_example_level_stays_unknown_unless_given() -> None:
    data = load("synthea-osteoporotic-fracture.json")
    unknown = to_facts(data, today=TODAY)
    assert unknown.facts.fracture_levels is None
    assert unknown.assumed_levels == []
    got = to_facts(data, today=TODAY, default_level="L1")
    assert got.assumed_levels == ["L1"]
    assert got.facts.osteoporosis_drug == "alendronate"
