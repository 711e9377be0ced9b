"""``drug_safety``: one drug checked against the safety rows, as ``plan()`` applies them."""

from __future__ import annotations

from tests.conftest import with_facts
from vertebra.engine import drug_safety, plan
from vertebra.facts import parse_facts


def test_true_row_is_reported_with_its_action_and_reason() -> None:
    facts = parse_facts(with_facts({"creatinine_clearance": 25}))
    found = {f.rule: f for f in drug_safety(facts, "alendronate")}
    assert found["safety-alendronate-renal"].action == "avoid"
    assert "35 mL/min" in found["safety-alendronate-renal"].reason
    assert found["safety-alendronate-renal"].rationale == (
        "Creatinine clearance: 25 mL/min (< 35)",
    )


def test_unknown_facts_give_a_check_naming_them() -> None:
    facts = parse_facts(with_facts({"creatinine_clearance": None}))
    found = {f.rule: f for f in drug_safety(facts, "alendronate")}
    assert found["safety-alendronate-renal"].action == "check"
    assert found["safety-alendronate-renal"].unknown == ("creatinine_clearance",)


def test_nothing_applies_for_a_safe_patient() -> None:
    assert drug_safety(parse_facts(with_facts({})), "alendronate") == []


def test_allergy_is_contraindicated() -> None:
    facts = parse_facts(with_facts({"allergies": ["raloxifene"]}))
    (finding,) = drug_safety(facts, "raloxifene")
    assert (finding.rule, finding.action) == ("allergy", "contraindicated")


def test_agrees_with_the_plan() -> None:
    facts = parse_facts(with_facts({"conditions": ["oesophageal_disorder"]}))
    plan_action = next(r.action for r in plan(facts).recommendations if r.drug == "alendronate")
    actions = {f.action for f in drug_safety(facts, "alendronate")}
    assert plan_action == "contraindicated" and "contraindicated" in actions
