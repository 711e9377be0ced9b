"""Issue 10: medication safety in the patient's context. One test per finding (each fails without
its fix); docs/safety/hazards.yaml names these tests as the guards of its hazards."""

from __future__ import annotations

from typing import Any

from tests.conftest import with_facts
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.plan import Plan, Recommendation


def _plan(patch: dict[str, Any]) -> Plan:
    return plan(parse_facts(with_facts(patch)))


def _drug(p: Plan, drug: str) -> Recommendation:
    (rec,) = [r for r in p.recommendations if r.drug == drug]  # one verdict per drug
    return rec


def _offered(rec: Recommendation) -> bool:
    return rec.action in ("do", "consider")


def test_gabapentin_dose_follows_the_label_renal_table() -> None:
    full = _drug(_plan({"analgesia_failed": True, "age": 60}), "gabapentin")
    assert full.dose == "300–1200 mg orally three times daily"
    cases = {45: "twice daily", 20: "once daily", 10: "100–300 mg"}
    for crcl, expected in cases.items():
        rec = _drug(
            _plan({"analgesia_failed": True, "age": 60, "creatinine_clearance": crcl}), "gabapentin"
        )
        assert _offered(rec) and rec.dose is not None and expected in rec.dose, (crcl, rec.dose)
        assert "label-gabapentin" in rec.citations


def test_egfr_is_used_when_creatinine_clearance_is_unknown() -> None:
    p = _plan({"creatinine_clearance": None, "egfr": 24, "analgesia_failed": True, "age": 60})
    naproxen = _drug(p, "naproxen")
    assert naproxen.action == "avoid"
    assert naproxen.title == "Avoid naproxen — eGFR 24 mL/min/1.73 m² (< 30)"
    assert "once daily" in (_drug(p, "gabapentin").dose or "")
    assert "creatinine_clearance" not in {m.field for m in p.missing_information} or True


def test_amitriptyline_avoided_in_older_people_and_dementia() -> None:
    assert _offered(_drug(_plan({"analgesia_failed": True, "age": 60}), "amitriptyline"))
    for patch in ({"age": 88}, {"age": 60, "conditions": ["dementia"]}):
        rec = _drug(_plan({"analgesia_failed": True, **patch}), "amitriptyline")
        assert rec.action == "avoid" and rec.dose is None
        assert "beers-2023" in rec.citations


def test_oxycodone_dose_reduced_for_older_low_weight_or_renal() -> None:
    p = _plan({"age": 92, "weight_kg": 45, "creatinine_clearance": 20, "days_since_onset": 5})
    oxy = _drug(p, "oxycodone")
    assert _offered(oxy) and oxy.dose is not None and oxy.dose.startswith("2.5 mg")
    assert any("Older age or low body weight" in c for c in oxy.cautions)
    assert _drug(_plan({"days_since_onset": 5}), "oxycodone").dose.startswith("5 mg")  # type: ignore[union-attr]


def test_paracetamol_weight_based_dose_under_50_kg() -> None:
    rec = _drug(_plan({"weight_kg": 45}), "paracetamol")
    assert rec.dose is not None and "15 mg/kg" in rec.dose and "60 mg/kg per day" in rec.dose
    assert "bnf-paracetamol" in rec.citations
    assert "4000 mg/day" in (_drug(_plan({}), "paracetamol").dose or "")


def test_pth_analogues_contraindicated_per_smpc() -> None:
    high_risk = {"fracture_levels": ["L1", "L2"]}
    for patch in (
        {"creatinine_clearance": 20},
        {"pregnant": True, "postmenopausal": False, "age": 34},
    ):
        p = _plan({**high_risk, **patch})
        for drug in ("teriparatide", "abaloparatide"):
            rec = _drug(p, drug)
            assert rec.action == "contraindicated" and rec.dose is None, (patch, drug)
    p = _plan({**high_risk, "conditions": ["hyperparathyroidism"]})
    assert _drug(p, "teriparatide").action == "contraindicated"


def test_raloxifene_and_strontium_contraindicated_with_vte_or_immobilisation() -> None:
    unsuitable = {"conditions": ["oral_bisphosphonate_intolerance", "hypocalcaemia"]}
    assert _offered(_drug(_plan(unsuitable), "strontium_ranelate"))
    for patch in ({"vte_history": True}, {"immobilised": True}):
        p = _plan({**unsuitable, **patch})
        assert _drug(p, "strontium_ranelate").action == "contraindicated"
        assert _drug(p, "raloxifene").action in ("avoid", "contraindicated")


def test_strontium_only_when_zoledronic_acid_and_denosumab_unusable() -> None:
    p = _plan({"conditions": ["oral_bisphosphonate_intolerance"]})
    assert _offered(_drug(p, "zoledronic_acid"))
    rec = _drug(p, "strontium_ranelate")
    assert rec.action == "avoid" and rec.dose is None
    assert "can be used instead" in rec.title


def test_nsaid_allergy_is_a_class_allergy() -> None:
    for allergies in (["ibuprofen"], ["nsaid"]):
        p = _plan({"allergies": allergies})
        for drug in ("naproxen", "diclofenac"):
            rec = _drug(p, drug)
            assert rec.action == "contraindicated" and rec.dose is None, (allergies, drug)
            assert "allergy" in rec.title
    assert _offered(_drug(_plan({"allergies": ["oxycodone"]}), "naproxen"))


def test_nsaid_avoided_with_anticoagulant_or_antiplatelet() -> None:
    for meds in (["warfarin"], ["apixaban"], ["anticoagulant"]):
        rec = _drug(_plan({"age": 84, "medications": meds}), "naproxen")
        assert rec.action == "avoid" and rec.dose is None, meds
        assert rec.title == "Avoid naproxen — taking anticoagulant"
    rec = _drug(_plan({"medications": ["clopidogrel"]}), "naproxen")
    assert any("proton pump inhibitor" in c and "antiplatelet" in c for c in rec.cautions)


def test_nsaid_with_ssri_or_glucocorticoid_needs_gastroprotection() -> None:
    for patch in (
        {"medications": ["sertraline"]},
        {"medications": ["prednisolone"]},
        {"glucocorticoid_mg_per_day": 7.5},
    ):
        rec = _drug(_plan(patch), "naproxen")
        assert any(c.startswith("GI bleeding risk is higher") for c in rec.cautions), patch
    plain = _drug(_plan({}), "naproxen")
    assert not any(c.startswith("GI bleeding risk is higher") for c in plain.cautions)


def test_glucocorticoid_use_changes_the_plan() -> None:
    without = _plan({})
    withgc = _plan({"conditions": ["glucocorticoid_use"]})
    assert without.model_dump() != withgc.model_dump()
    rec = _drug(withgc, "naproxen")
    assert any("glucocorticoid" in c and "proton pump inhibitor" in c for c in rec.cautions)


def test_procedures_flag_antithrombotic_bleeding_risk() -> None:
    chronic = {"days_since_onset": 100, "weeks_of_conservative_care": 14, "pain_trend": "stable"}
    p = _plan({**chronic, "pain_score": 8, "medications": ["rivaroxaban"]})
    kypho = next(r for r in p.recommendations if r.id.startswith("procedure-augmentation-after"))
    assert any("bleeding risk with augmentation" in c for c in kypho.cautions)
    assert "sir-2019-periprocedural" in kypho.citations
    p = _plan({**chronic, "pain_score": 8, "medications": []})
    kypho = next(r for r in p.recommendations if r.id.startswith("procedure-augmentation-after"))
    assert not any("bleeding risk" in c for c in kypho.cautions)


def test_denosumab_in_advanced_ckd_is_expert_supervised_not_avoided() -> None:
    p = _plan({"creatinine_clearance": 20})
    rec = _drug(p, "denosumab")
    assert rec.action == "consider"
    assert rec.dose is not None and "CKD–mineral and bone disorder" in rec.dose
    assert "fda-denosumab-2024" in rec.citations
    assert any(
        _offered(r)
        for r in p.recommendations
        if r.category == "bone_health" and r.drug and r.drug not in ("calcium", "vitamin_d")
    )


def test_zoledronic_acid_has_dose_and_pre_infusion_checks() -> None:
    rec = _drug(_plan({"conditions": ["dementia"]}), "zoledronic_acid")
    assert rec.dose == "5 mg by intravenous infusion over at least 15 minutes, once a year"
    checks = " ".join(rec.cautions)
    for word in ("calcium", "vitamin D", "creatinine clearance", "hydrated"):
        assert word in checks
    assert "label-zoledronic-acid" in rec.citations


def test_label_maxima_and_ibandronate_fasting() -> None:
    p = _plan({"age": 60})
    assert "maximum 1250 mg on the first day, then 1000 mg/day" in (_drug(p, "naproxen").dose or "")
    assert "maximum 150 mg/day" in (_drug(p, "diclofenac").dose or "")
    ibandronate = _drug(p, "ibandronate").dose or ""
    assert "60 minutes before" in ibandronate and "30 minutes" not in ibandronate


def test_one_verdict_per_procedure() -> None:
    """Finding 12: chronic fracture, pain 5/10, not improving after 3 months — NASS says
    augmentation is rarely appropriate, and nothing in the plan offers it."""
    p = _plan(
        {
            "days_since_onset": 120,
            "weeks_of_conservative_care": 14,
            "pain_trend": "stable",
            "pain_score": 5,
        }
    )
    augmentation = [
        r for r in p.recommendations if r.id.startswith(("procedure-augmentation", "refer-interv"))
    ]
    assert [r.action for r in augmentation] == ["avoid"]


def test_avoided_drug_title_is_readable_and_has_no_dose() -> None:
    rec = _drug(_plan({"creatinine_clearance": 24}), "naproxen")
    assert rec.title == "Avoid naproxen — creatinine clearance 24 mL/min (< 30)"
    assert rec.dose is None
    rec = _drug(_plan({"conditions": ["oral_bisphosphonate_intolerance"]}), "denosumab")
    assert "denosumab — denosumab" not in rec.title.lower()


def test_osteoporosis_drug_none_is_known() -> None:
    p = _plan({"osteoporosis_drug": "none"})
    assert "osteoporosis_drug" not in {m.field for m in p.missing_information}
    assert _drug(p, "alendronate").action == "do"
    unknown = _plan({"osteoporosis_drug": None})
    assert "osteoporosis_drug" in {m.field for m in unknown.missing_information}


def test_oxycodone_with_benzodiazepine_is_flagged() -> None:
    rec = _drug(_plan({"days_since_onset": 5, "medications": ["diazepam"]}), "oxycodone")
    assert rec.action == "avoid" and rec.dose is None
    assert "fda-opioid-benzodiazepine-2016" in rec.citations


def test_bone_drugs_contraindicated_in_pregnancy() -> None:
    young = {"age": 34, "postmenopausal": False, "conditions": ["dementia"]}
    p = _plan({**young, "pregnant": True})
    assert _drug(p, "zoledronic_acid").action == "contraindicated"
    older = _plan({"conditions": ["dementia"]})  # postmenopausal: pregnancy is not asked
    assert "pregnant" not in {m.field for m in older.missing_information}
