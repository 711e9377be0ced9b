"""Clinical scenarios with the behaviour a clinician expects, stated independently of the tables."""

from __future__ import annotations

from typing import Any

from tests.conftest import with_facts
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.knowledge import load
from vertebra.plan import Plan, Recommendation


def _plan(patch: dict[str, Any], base: bool = True) -> Plan:
    return plan(parse_facts(with_facts(patch) if base else patch))


def _by_target(p: Plan, target: str) -> list[Recommendation]:
    return [r for r in p.recommendations if r.target == target]


def _drug(p: Plan, drug: str) -> list[Recommendation]:
    return [r for r in p.recommendations if r.drug == drug]


def test_stable_acute_fracture() -> None:
    p = _plan({})
    assert (p.pathway, p.phase) == ("stable", "acute")
    assert _by_target(p, "fracture_liaison_service")[0].action == "do"
    assert not _by_target(p, "spine_surgery")
    assert (
        _drug(p, "paracetamol")[0].dose
        == "500–1000 mg orally every 4–6 hours when required; maximum 4000 mg/day"
    )
    assert _drug(p, "alendronate")[0].action == "do"
    assert _drug(p, "calcitonin")[0].action == "avoid"
    assert {c.id for c in p.conflicts} >= {"calcitonin", "vertebral-augmentation"}
    # "none" is a known answer (contract v2): a complete record no longer reports it as missing.
    assert "osteoporosis_drug" not in {m.field for m in p.missing_information}


def test_neurological_deficit_is_an_immediate_referral_first() -> None:
    p = _plan({"neurological_deficit": True})
    first = p.recommendations[0]
    assert (first.category, first.target, first.urgency) == (
        "referral",
        "spine_surgery",
        "immediate",
    )
    assert p.pathway == "potentially_unstable"
    assert "Neurological deficit: yes" in first.rationale


def test_unknown_neurology_asks_for_an_examination_not_a_no() -> None:
    p = _plan({"neurological_deficit": None})
    assert "neurological_deficit" in {m.field for m in p.missing_information}
    assert any(r.id == "assess-neurological-examination" for r in p.recommendations)
    assert not any(r.id == "no-spinal-referral-needed" for r in p.recommendations)


def test_renal_impairment_changes_drug_choices() -> None:
    p = _plan({"creatinine_clearance": 25})
    assert _drug(p, "alendronate")[0].action == "avoid"
    assert all(r.action == "avoid" for r in _drug(p, "naproxen") + _drug(p, "diclofenac"))
    assert _by_target(p, "osteoporosis_specialist")
    assert any("35 mL/min" in c for c in _drug(p, "alendronate")[0].cautions)


def test_unknown_renal_function_never_gives_a_plain_do_for_a_bisphosphonate() -> None:
    p = _plan({"creatinine_clearance": None})
    assert _drug(p, "alendronate")[0].action == "consider"
    renal = next(r for r in p.recommendations if r.id == "assess-renal-function")
    assert renal.category == "assessment"
    assert "creatinine_clearance" in {m.field for m in p.missing_information}


def test_oesophageal_disorder_means_intravenous_zoledronic_acid() -> None:
    p = _plan({"conditions": ["oesophageal_disorder"]})
    assert _drug(p, "alendronate")[0].action == "contraindicated"
    assert _drug(p, "zoledronic_acid")[0].action == "do"


def test_romosozumab_after_stroke_is_contraindicated_with_an_alternative() -> None:
    p = _plan({"fracture_levels": ["T12", "L1"], "conditions": ["mi_or_stroke_history"]})
    romo = _drug(p, "romosozumab")[0]
    assert romo.action == "contraindicated"
    assert any(c.startswith("Alternative:") for c in romo.cautions)
    assert _drug(p, "teriparatide")[0].action == "consider"


def test_allergy_makes_a_drug_contraindicated() -> None:
    p = _plan({"allergies": ["paracetamol"]})
    assert all(r.action == "contraindicated" for r in _drug(p, "paracetamol"))


def test_suspected_malignancy_pathway() -> None:
    p = _plan({"suspected_malignancy": True})
    assert p.pathway == "pathological_suspected"
    assert p.recommendations[0].target == "oncology_mdt"
    assert any("contrast" in r.title for r in p.recommendations if r.category == "imaging")


def test_high_energy_is_out_of_scope_and_says_so() -> None:
    p = _plan({"mechanism": "high_energy"})
    assert p.pathway == "out_of_scope"
    assert len(p.recommendations) == 1
    assert "scope" in p.recommendations[0].title


def test_multiple_columns_strict_bed_rest_and_reconstruction() -> None:
    p = _plan({"columns_involved": "multiple"})
    assert p.pathway == "potentially_unstable"
    ids = {r.id for r in p.recommendations}
    assert {"unstable-strict-bed-rest", "unstable-open-reconstruction"} <= ids
    assert "mobilise-limited-bed-rest" not in ids


def test_phase_boundaries() -> None:
    assert _plan({"days_since_onset": 28}).phase == "acute"
    assert _plan({"days_since_onset": 29}).phase == "subacute"
    assert _plan({"days_since_onset": 84}).phase == "subacute"
    assert _plan({"days_since_onset": 85}).phase == "chronic"
    assert _plan({"days_since_onset": None}).phase == "unknown"


def test_three_months_of_failed_care_brings_referrals() -> None:
    p = _plan(
        {
            "days_since_onset": 100,
            "weeks_of_conservative_care": 14,
            "pain_trend": "worsening",
            "pain_score": 8,
        }
    )
    assert any(r.urgency == "urgent" for r in _by_target(p, "spine_surgery"))
    assert _by_target(p, "interventional_radiology")


def test_minimal_input_lists_what_to_document() -> None:
    p = _plan({"age": 78, "sex": "female", "fracture_levels": ["L1"]}, base=False)
    missing = {m.field for m in p.missing_information}
    assert {
        "neurological_deficit",
        "spinal_instability",
        "suspected_malignancy",
        "creatinine_clearance",
        "days_since_onset",
        "mechanism",
    } <= missing
    assert all(
        r.action != "do"
        for r in p.recommendations
        if r.drug not in (None, "paracetamol", "laxative", "calcium", "vitamin_d")
    )


def test_sources_are_only_those_cited_in_bibliography_order() -> None:
    p = _plan({})
    cited = {c for r in p.recommendations for c in r.citations}
    cited |= {pos.source for c in p.conflicts for pos in c.positions}
    bibliography = [s.id for s in load().sources]
    ids = [s.id for s in p.sources]
    assert ids == [s for s in bibliography if s in cited]  # bibliography order, nothing else
    assert len(ids) > 1  # an order to check


def test_opioid_without_a_usable_laxative_is_avoided() -> None:
    p = _plan({"days_since_onset": 3, "allergies": ["laxative"]})
    oxy = _drug(p, "oxycodone")[0]
    assert oxy.action == "avoid"
    assert any("laxative" in c for c in oxy.cautions)
