"""``drug_safety``: one drug checked against the safety rows, as ``plan()`` applies them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import with_facts
from tests.engine.strategies import patient_facts
from vertebra.engine import drug_safety, plan, safety_inputs
from vertebra.facts import parse_facts
from vertebra.knowledge import load
from vertebra.knowledge.conditions import facts_used


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
    assert found["safety-alendronate-renal"].unknown == ("creatinine_clearance", "egfr")


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


@settings(max_examples=300, deadline=None)
@given(a=patient_facts(), b=patient_facts(), data=st.data())
def test_findings_depend_only_on_the_safety_inputs(
    a: dict[str, Any], b: dict[str, Any], data: st.DataObject
) -> None:
    """Two patients who agree on safety_inputs(drug) get the same findings for that drug,
    however much else differs (what lets screening evaluate each combination once)."""
    drug = data.draw(st.sampled_from(sorted(load().vocabulary.drugs)))
    names = safety_inputs(drug)
    mixed = {k: v for k, v in b.items() if k not in names}
    mixed.update({k: v for k, v in a.items() if k in names})
    assert drug_safety(parse_facts(a), drug) == drug_safety(parse_facts(mixed), drug)


def test_safety_inputs_name_the_facts_of_the_drugs_rows() -> None:
    assert safety_inputs("alendronate") == {
        "allergies",
        "conditions",
        "creatinine_clearance",
        "egfr",
    }
    assert safety_inputs("romosozumab") == {"allergies", "conditions"}
    # Every drug's rows' own facts are included (derived facts expanded to their inputs).
    kb = load()
    for srow in kb.safety_rows:
        if srow.row.action not in ("avoid", "contraindicated"):
            continue
        for drug in srow.drugs:
            used = set(facts_used(srow.row.when))
            derived = {d.spec.name for d in kb.derived}
            assert used - derived <= safety_inputs(drug)
