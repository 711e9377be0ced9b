"""Properties that hold for every valid patient (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.engine.strategies import patient_facts
from vertebra.engine import plan
from vertebra.facts import FACT_NAMES, parse_facts
from vertebra.knowledge import load
from vertebra.plan import Plan

KB = load()
SOURCE_IDS = {s.id for s in KB.sources}
ORAL_BISPHOSPHONATES = {"alendronate", "risedronate", "ibandronate"}
NSAIDS = {"naproxen", "diclofenac", "ibuprofen"}


BISPHOSPHONATES = ORAL_BISPHOSPHONATES | {"zoledronic_acid"}
PTH_ANALOGUES = {"teriparatide", "abaloparatide"}
# Written here independently of medicines.yaml (WHO ATC classes), so the test can disagree with it.
ANTICOAGULANTS = {
    "warfarin",
    "apixaban",
    "rivaroxaban",
    "edoxaban",
    "dabigatran",
    "heparin",
    "enoxaparin",
    "anticoagulant",
}
CNS_DEPRESSANTS = {
    "diazepam",
    "lorazepam",
    "temazepam",
    "zopiclone",
    "benzodiazepine",
    "morphine",
    "codeine",
    "tramadol",
    "fentanyl",
    "opioid",
}
GI_BLEED_COMEDICATION = {
    "sertraline",
    "citalopram",
    "escitalopram",
    "fluoxetine",
    "paroxetine",
    "venlafaxine",
    "duloxetine",
    "ssri_snri",
    "prednisolone",
    "prednisone",
    "dexamethasone",
    "hydrocortisone",
    "methylprednisolone",
    "glucocorticoid",
    "aspirin",
    "clopidogrel",
    "ticagrelor",
    "prasugrel",
    "antiplatelet",
}


def _renal(facts: dict[str, Any]) -> float | None:
    """Creatinine clearance, else eGFR (the measure the plan says it used)."""
    crcl = facts.get("creatinine_clearance")
    return crcl if crcl is not None else facts.get("egfr")


def _allergic(facts: dict[str, Any], drug: str) -> bool:
    allergies = set(facts.get("allergies") or [])
    classes = [NSAIDS, {"oxycodone"}, BISPHOSPHONATES]
    words = {"nsaid": NSAIDS, "opioid": {"oxycodone"}, "bisphosphonate": BISPHOSPHONATES}
    if drug in allergies or any(drug in words[w] for w in allergies & set(words)):
        return True
    return any(drug in c and allergies & c for c in classes)


def _could_be_pregnant(facts: dict[str, Any]) -> bool:
    return facts.get("sex") == "female" and facts.get("postmenopausal") is not True


# Contraindications stated in the sources, written here independently of the knowledge files:
# (drug set, predicate on the facts) -> the drug must never be a 'do' or 'consider'.
def _contraindicated(facts: dict[str, Any], drug: str) -> bool:
    conds = set(facts.get("conditions") or [])
    renal = _renal(facts)
    if _allergic(facts, drug):
        return True
    if drug in ORAL_BISPHOSPHONATES and conds & {
        "oesophageal_disorder",
        "cannot_sit_upright_30_min",
    }:
        return True
    if drug in BISPHOSPHONATES and "hypocalcaemia" in conds:
        return True
    if drug == "zoledronic_acid" and renal is not None and renal < 35:
        return True
    if drug == "romosozumab" and conds & {"mi_or_stroke_history", "hypocalcaemia"}:
        return True
    if drug in PTH_ANALOGUES:
        if renal is not None and renal < 30:
            return True
        if _could_be_pregnant(facts) and (facts.get("pregnant") or facts.get("breastfeeding")):
            return True
        if drug == "abaloparatide" and conds & {
            "abnormal_alkaline_phosphatase",
            "prior_skeletal_radiation",
        }:
            return True
    if drug == "raloxifene" and (
        facts.get("vte_history") is True
        or "hepatic_impairment" in conds
        or (renal is not None and renal < 30)
    ):
        return True
    if drug == "strontium_ranelate" and (
        facts.get("vte_history") is True or facts.get("immobilised") is True
    ):
        return True
    return drug == "teriparatide" and bool(
        conds
        & {
            "pagets_disease",
            "abnormal_alkaline_phosphatase",
            "prior_skeletal_radiation",
            "hyperparathyroidism",
        }
    )


def _not_recommended(facts: dict[str, Any], drug: str) -> bool:
    renal = _renal(facts)
    conds = set(facts.get("conditions") or [])
    meds = set(facts.get("medications") or [])
    if drug == "alendronate" and renal is not None and renal < 35:
        return True
    if drug in {"risedronate", "ibandronate"} and renal is not None and renal < 30:
        return True
    if drug in NSAIDS and (
        (renal is not None and renal < 30)
        or conds & {"gi_bleeding_history", "cardiovascular_disease", "mi_or_stroke_history"}
        or meds & ANTICOAGULANTS
    ):
        return True
    if drug == "amitriptyline" and (facts["age"] >= 65 or "dementia" in conds):
        return True
    if drug == "oxycodone" and meds & CNS_DEPRESSANTS:
        return True
    return drug == "raloxifene" and facts.get("immobilised") is True


def _plan(facts: dict[str, Any]) -> Plan:
    return plan(parse_facts(facts))


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(patient_facts())
def test_every_recommendation_cites_known_sources(facts: dict[str, Any]) -> None:
    p = _plan(facts)
    listed = {s.id for s in p.sources}
    for r in p.recommendations:
        assert r.citations, r.id
        assert set(r.citations) <= SOURCE_IDS
        assert set(r.citations) <= listed
    for c in p.conflicts:
        assert {pos.source for pos in c.positions} <= listed


@SETTINGS
@given(patient_facts())
def test_no_do_for_a_contraindicated_or_allergic_drug(facts: dict[str, Any]) -> None:
    for r in _plan(facts).recommendations:
        if r.drug is None:
            continue
        if _contraindicated(facts, r.drug):
            assert r.action in ("avoid", "contraindicated"), (r.id, r.action)
            if r.action != "avoid":
                assert r.action == "contraindicated"
        if _not_recommended(facts, r.drug):
            assert r.action in ("avoid", "contraindicated"), (r.id, r.action)


@SETTINGS
@given(patient_facts())
def test_doses_follow_the_patient(facts: dict[str, Any]) -> None:
    """Advised-against drugs show no dose; doses are adjusted for kidney function and weight;
    denosumab in advanced CKD is expert-supervised, not avoided; NSAIDs next to an SSRI, a
    glucocorticoid or an antiplatelet carry gastroprotection advice; one verdict per drug."""
    recs = _plan(facts).recommendations
    renal = _renal(facts)
    drugs = [r.drug for r in recs if r.drug]
    assert len(drugs) == len(set(drugs)), "one recommendation per drug"
    for r in recs:
        if r.action in ("avoid", "contraindicated"):
            assert r.dose is None, r.id
            continue
        if r.drug == "gabapentin" and renal is not None and renal < 60:
            assert r.dose is not None and "three times daily" not in r.dose
        if r.drug == "oxycodone" and renal is not None and renal < 60:
            assert r.dose is not None and r.dose.startswith("2.5 mg")
        weight = facts.get("weight_kg")
        if r.drug == "paracetamol" and weight is not None and weight < 50:
            assert r.dose is not None and "mg/kg" in r.dose
        if r.drug == "denosumab" and renal is not None and renal < 30:
            assert r.action == "consider" and r.dose is not None and "CKD" in r.dose
        meds = set(facts.get("medications") or [])
        gc = "glucocorticoid_use" in (facts.get("conditions") or [])
        if r.drug in NSAIDS and (meds & GI_BLEED_COMEDICATION or gc):
            assert any("proton pump inhibitor" in c for c in r.cautions), r.id


@SETTINGS
@given(patient_facts())
def test_strontium_only_when_zoledronic_acid_and_denosumab_unusable(facts: dict[str, Any]) -> None:
    recs = _plan(facts).recommendations
    usable = {r.drug for r in recs if r.action in ("do", "consider")}
    if "strontium_ranelate" in usable:
        assert not usable & {"zoledronic_acid", "denosumab"}


@SETTINGS
@given(patient_facts())
def test_oxycodone_never_without_a_laxative(facts: dict[str, Any]) -> None:
    recs = _plan(facts).recommendations
    if any(r.drug == "oxycodone" and r.action in ("do", "consider") for r in recs):
        assert any(r.drug == "laxative" and r.action in ("do", "consider") for r in recs)


@SETTINGS
@given(patient_facts())
def test_medical_management_always_present(facts: dict[str, Any]) -> None:
    p = _plan(facts)
    if p.pathway == "out_of_scope":
        assert any("scope" in r.title for r in p.recommendations)
        return
    # Pain is always addressed (an analgesic may be shown as contraindicated, e.g. with
    # allergies to every option), and referral and follow-up are always actions to take.
    assert any(r.category == "analgesia" for r in p.recommendations)
    cats = {r.category for r in p.recommendations if r.action in ("do", "consider")}
    assert {"referral", "follow_up"} <= cats
    assert any(r.target == "fracture_liaison_service" for r in p.recommendations)
    if p.pathway != "pathological_suspected":
        assert any(r.drug in ("calcium", "vitamin_d") for r in p.recommendations)


@SETTINGS
@given(patient_facts())
def test_missing_information_names_only_unknown_facts(facts: dict[str, Any]) -> None:
    p = _plan(facts)
    for m in p.missing_information:
        assert m.field in FACT_NAMES
        assert facts.get(m.field) is None, m.field
        assert m.why


@SETTINGS
@given(patient_facts())
def test_deterministic_and_well_formed(facts: dict[str, Any]) -> None:
    first = _plan(facts).to_json()
    assert _plan(dict(reversed(list(facts.items())))).to_json() == first
    p = Plan.model_validate_json(first)
    ids = [r.id for r in p.recommendations]
    assert len(ids) == len(set(ids))
    timeline_ids = [i for slot in p.timeline for i in slot.recommendations]
    assert sorted(timeline_ids) == sorted(ids)
    for r in p.recommendations:
        if r.category == "referral":
            assert r.target and r.urgency
        if r.urgency is not None:
            assert r.category in ("referral", "imaging")
    urgencies = [r.urgency for r in p.recommendations]
    ranks = [{"immediate": 0, "urgent": 1, "routine": 2}.get(u or "", 3) for u in urgencies]
    assert ranks == sorted(ranks), "urgent first"


@SETTINGS
@given(patient_facts())
def test_unknown_level_from_a_record_still_plans_and_asks_for_it(facts: dict[str, Any]) -> None:
    from vertebra.facts import parse_record_facts

    record = {k: v for k, v in facts.items() if k != "fracture_levels"}
    p = plan(parse_record_facts(record))
    if p.pathway == "out_of_scope":
        return
    assert "fracture_levels" in {m.field for m in p.missing_information}
    assert any(r.id == "assess-confirm-fracture-level" for r in p.recommendations)
    assert all(r.citations for r in p.recommendations)
