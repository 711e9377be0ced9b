"""FHIR intake of the v2 facts: every mapping (code system, code, fact), the "unknown is not no"
rules, a bundle with everything, and a v1-only bundle whose facts keep their meaning."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest

from vertebra import terminology, yamlfile
from vertebra.engine import plan
from vertebra.facts import ALLERGY_CLASSES, DRUGS, MEDICINES
from vertebra.fhir import to_facts
from vertebra.fhir.v2facts import NO_INFO_SYSTEM
from vertebra.terminology import ATC

YESNO = "http://terminology.hl7.org/CodeSystem/v2-0136"


def _with(fx: Any, *resources: dict[str, Any], today: Any = None) -> Any:
    return to_facts(
        [fx.patient(), fx.condition((fx.ICD, "S32.010A"), rid="fx"), *resources],
        today=today or fx.today,
    )


def _statement(
    concept: dict[str, Any], *, rid: str = "s1", status: str = "active", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": concept,
        **extra,
    }


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _administration(code: str, when: str, *, rid: str = "ad1", status: str = "completed") -> Any:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": _coded(ATC, code),
        "effectiveDateTime": when,
    }


# ------------------------------------------------------------------ medications


@pytest.mark.parametrize(
    ("system", "code", "word"),
    [
        ("RXNORM", "11289", "warfarin"),
        ("RXNORM", "8638", "prednisolone"),
        ("RXNORM", "36437", "sertraline"),
        ("RXNORM", "243670", "aspirin"),  # Synthea clinical drug
        ("RXNORM", "197591", "diazepam"),  # Synthea clinical drug
        ("RXNORM", "7804", "opioid"),  # oxycodone: its class
        (ATC, "B01AF02", "apixaban"),
        (ATC, "H02AB06", "prednisolone"),
        (ATC, "L02BG03", "anastrozole"),
        ("SCT", "372756006", "warfarin"),
    ],
)
def test_active_medicine_codes_fill_medications(fx: Any, system: str, code: str, word: str) -> None:
    system = getattr(fx, system, system)
    req = fx.med_request(code, medicationCodeableConcept=_coded(system, code))
    got = _with(fx, req)
    assert got.facts.medications == [word]
    assert not [u for u in got.unmapped if u.resource_id == "m1"]


def test_only_active_medicines_are_current(fx: Any) -> None:
    got = _with(
        fx,
        fx.med_request("11289", rid="w", status="stopped"),
        fx.med_request("32968", rid="c", status="completed"),
        _statement(_coded(ATC, "H02AB06"), rid="p", status="completed"),
    )
    assert got.facts.medications is None  # past medicines: unknown now, never "none"


def test_medicine_named_in_text_only_is_read_and_said(fx: Any) -> None:
    got = _with(fx, _statement({"text": "Eliquis 5 mg twice daily"}))
    assert got.facts.medications == ["apixaban"]
    assert any("apixaban from MedicationStatement/s1 (matched by name)" in n for n in got.notes)


def test_local_glucocorticoid_is_not_a_systemic_one(fx: Any) -> None:
    cream = _statement({"text": "Hydrocortisone 1% cream"}, rid="cream")
    inhaled = fx.med_request(
        "5492", rid="inh", dosageInstruction=[{"route": {"text": "Inhalation"}}]
    )
    got = _with(fx, cream, inhaled, _statement({"text": "Prednisolone 5 mg tablets"}, rid="p"))
    assert got.facts.medications == ["prednisolone"]
    assert any("hydrocortisone by a local route" in n for n in got.notes)


def test_heparin_line_flush_is_not_anticoagulation(fx: Any) -> None:
    flush = _statement({"text": "Heparin lock flush 100 units/mL"}, rid="flush")
    assert _with(fx, flush).facts.medications is None
    dose = _statement({"text": "Heparin 5000 units subcutaneous"}, rid="sc")
    assert _with(fx, dose).facts.medications == ["heparin"]


def test_unknown_medicine_is_reported_not_guessed(fx: Any) -> None:
    got = _with(fx, fx.med_request("314076"))  # lisinopril: not in the vocabulary
    assert got.facts.medications is None
    assert [(u.resource_id, u.code) for u in got.unmapped] == [("m1", "314076")]


def test_current_medication_value_set_agrees_with_medicines_yaml() -> None:
    data = terminology.load("current-medication")
    atc = {c.code: c.maps_to for c in data.codes if c.system == ATC}
    text = resources.files("vertebra.knowledge").joinpath("data", "medicines.yaml").read_text()
    medicines = yamlfile.safe_load(text)["medicines"]
    for word, entry in medicines.items():
        assert atc.get(entry["atc"]) == word, word
    assert set(medicines) <= set(MEDICINES)


def test_names_file_names_only_vocabulary_words() -> None:
    names = terminology.medicine_names()
    words = set(names.names.values())
    assert words <= {*DRUGS, *MEDICINES, *ALLERGY_CLASSES}
    assert names.words_in("Alendronic acid 70 MG Oral Tablet", DRUGS) == ["alendronate"]
    assert names.words_in("ibuprofenate", DRUGS) == []  # whole words only


# ------------------------------------------------------------------ bone drug, last dose


def test_absent_bone_drug_is_unknown_not_none(fx: Any) -> None:
    got = _with(fx)
    assert got.facts.osteoporosis_drug is None
    assert any("absence is not 'none'" in n for n in got.notes)


def test_recorded_no_known_medications_gives_none(fx: Any) -> None:
    got = _with(fx, _statement(_coded(NO_INFO_SYSTEM, "no-known-medications")))
    assert got.facts.osteoporosis_drug == "none"
    assert got.facts.medications == []


def test_recorded_medicines_win_over_no_known_medications(fx: Any) -> None:
    got = _with(
        fx, _statement(_coded(NO_INFO_SYSTEM, "no-known-medications")), fx.med_request("904419")
    )
    assert got.facts.osteoporosis_drug == "alendronate"
    assert got.facts.medications is None  # the record contradicts itself: unknown, not []
    assert any("records no known medications, but active" in n for n in got.notes)


def test_months_since_last_denosumab_dose_from_the_latest_administration(fx: Any) -> None:
    got = _with(
        fx,
        fx.med_request("993449", rid="dmab", authored="2025-11-01"),
        _administration("M05BX04", "2026-05-21", rid="inj1"),
        _administration("M05BX04", "2025-11-20", rid="inj0"),
        _administration("M05BX04", "2026-08-01", rid="bad", status="entered-in-error"),
    )
    assert got.facts.osteoporosis_drug == "denosumab"
    assert got.facts.months_since_last_dose == 6.0
    assert any("administered 2026-05-21 (MedicationAdministration/inj1)" in n for n in got.notes)


def test_renewed_prescription_does_not_hide_an_overdue_injection(fx: Any) -> None:
    got = _with(
        fx,
        fx.med_request("993449", rid="renewed", authored="2026-11-14"),  # for the next dose
        _administration("M05BX04", "2026-03-21", rid="last"),  # 8 months ago
    )
    assert got.facts.months_since_last_dose == 8.0


def test_months_since_last_dose_is_relative_to_the_as_of_date(fx: Any) -> None:
    from datetime import date

    req = fx.med_request("77655", rid="zol", authored="2026-01-01")
    given = _administration("M05BA08", "2026-01-21", rid="inf")
    assert _with(fx, req, given).facts.months_since_last_dose == 10.0
    later = _with(fx, req, given, today=date(2027, 1, 21))
    assert later.facts.months_since_last_dose == 12.0


def test_prescription_dates_alone_leave_the_last_dose_unknown(fx: Any) -> None:
    got = _with(fx, fx.med_request("77655", rid="zol", authored="2026-01-21"))
    assert got.facts.osteoporosis_drug == "zoledronic_acid"
    assert got.facts.months_since_last_dose is None
    assert any(
        "no recorded administration of zoledronic_acid (last prescribed:" in n for n in got.notes
    )
    taken = _statement(_coded(ATC, "M05BA08"), rid="st", effectiveDateTime="2026-02-21")
    got = _with(fx, fx.med_request("77655", rid="zol", authored="2026-01-21"), taken)
    assert got.facts.months_since_last_dose == 9.0  # a statement that it was taken counts


def test_other_administrations_are_counted_not_listed(fx: Any) -> None:
    insulin = [_administration("A10AB01", "2026-11-0" + str(i), rid=f"ins{i}") for i in range(1, 4)]
    got = _with(fx, *insulin)
    assert got.unmapped == []
    assert any(
        n.startswith("3 MedicationAdministration resource(s) not of a bone drug") for n in got.notes
    )


def test_no_months_since_last_dose_for_an_oral_drug(fx: Any) -> None:
    got = _with(fx, fx.med_request("904419"), _administration("M05BX04", "2024-01-01"))
    assert got.facts.osteoporosis_drug == "alendronate"
    assert got.facts.months_since_last_dose is None
    assert any("denosumab last recorded on 2024-01-01" in n for n in got.notes)


def test_bone_drug_by_atc_code(fx: Any) -> None:
    got = _with(fx, _statement(_coded(ATC, "M05BA07")))
    assert got.facts.osteoporosis_drug == "risedronate"


# ------------------------------------------------------------------ allergies


def test_ibuprofen_allergy_lists_ibuprofen(fx: Any) -> None:
    # The engine treats it class-wide (knowledge/data/medicines.yaml allergy_classes).
    assert _with(fx, fx.allergy(fx.RXNORM, "5640")).facts.allergies == ["ibuprofen"]
    assert _with(fx, fx.allergy(fx.SCT, "387207008")).facts.allergies == ["ibuprofen"]
    assert _with(fx, fx.allergy(ATC, "M01AE01")).facts.allergies == ["ibuprofen"]


@pytest.mark.parametrize(
    ("system", "code", "word"),
    [
        ("SCT", "372665008", "nsaid"),
        ("RXNORM", "1191", "nsaid"),  # aspirin: NSAID labels name aspirin reactions
        (ATC, "M01AB05", "diclofenac"),
        (ATC, "M01AG01", "nsaid"),  # mefenamic acid: under M01A, not a vocabulary drug
        (ATC, "N02A", "opioid"),
        (ATC, "M05BA08", "zoledronic_acid"),
        (ATC, "M05BB03", None),  # a combination, not under M05BA
        ("RXNORM", "2670", None),  # codeine: not mapped to the opioid class (see value set)
    ],
)
def test_allergy_codes_map_to_drugs_or_classes(
    fx: Any, system: str, code: str, word: str | None
) -> None:
    got = _with(fx, fx.allergy(getattr(fx, system, system), code))
    assert got.facts.allergies == ([word] if word else None)
    if word is None:
        assert [u.code for u in got.unmapped] == [code]


@pytest.mark.parametrize(
    "extra",
    [
        {"verificationStatus": {"coding": [{"code": "refuted"}]}},
        {"verificationStatus": {"coding": [{"code": "entered-in-error"}]}},
        {"clinicalStatus": {"coding": [{"code": "resolved"}]}},
    ],
)
def test_refuted_or_resolved_allergies_are_ignored(fx: Any, extra: dict[str, Any]) -> None:
    assert _with(fx, fx.allergy(fx.SCT, "372665008", **extra)).facts.allergies is None


def test_no_known_allergy_gives_an_empty_list(fx: Any) -> None:
    assert _with(fx, fx.allergy(fx.SCT, "716186003")).facts.allergies == []
    both = _with(fx, fx.allergy(fx.SCT, "716186003"), fx.allergy(fx.RXNORM, "5640", rid="a2"))
    assert both.facts.allergies == ["ibuprofen"]


def test_oral_bisphosphonate_intolerance_is_not_an_allergy(fx: Any) -> None:
    got = _with(fx, fx.allergy(fx.RXNORM, "46041", type="intolerance"))
    assert got.facts.allergies is None  # would exclude zoledronic acid too
    assert got.facts.conditions == ["oral_bisphosphonate_intolerance"]


def test_other_intolerance_is_reported_for_review(fx: Any) -> None:
    got = _with(fx, fx.allergy(fx.RXNORM, "5640", type="intolerance"))
    assert got.facts.allergies is None
    assert "intolerance" in got.unmapped[0].why and got.unmapped[0].code == "5640"


# ------------------------------------------------------------------ observations


@pytest.mark.parametrize("code", ["33914-3", "48642-3", "48643-1", "62238-1", "98979-8"])
def test_egfr_codes_fill_egfr(fx: Any, code: str) -> None:
    got = _with(fx, fx.observation(fx.LOINC, code, 42, unit="mL/min/{1.73_m2}"))
    assert got.facts.egfr == 42
    assert got.facts.creatinine_clearance == 42  # the v1 meaning, said in the notes
    assert any("only approximates Cockcroft" in n for n in got.notes)


def test_most_recent_egfr_wins_and_a_recorded_clearance_is_kept(fx: Any) -> None:
    got = _with(
        fx,
        fx.observation(fx.LOINC, "62238-1", 55, rid="old", when="2025-01-01"),
        fx.observation(fx.LOINC, "62238-1", 38, rid="new", when="2026-10-01"),
        fx.observation(fx.LOINC, "35591-7", 24, rid="cg", unit="mL/min"),
    )
    assert (got.facts.egfr, got.facts.creatinine_clearance) == (38, 24)


def test_egfr_in_ml_per_second_is_converted(fx: Any) -> None:
    got = _with(fx, fx.observation(fx.LOINC, "62238-1", 0.5, unit="mL/s/{1.73_m2}"))
    assert got.facts.egfr == 30.0


def test_egfr_in_a_wrong_unit_is_skipped_naming_the_resource(fx: Any) -> None:
    got = _with(fx, fx.observation(fx.LOINC, "62238-1", 1.2, rid="crea", unit="mg/dL"))
    assert got.facts.egfr is None and got.facts.creatinine_clearance is None
    (bad,) = got.unmapped
    assert (bad.resource_type, bad.resource_id) == ("Observation", "crea")
    assert "eGFR unit 'mg/dL' not understood" in bad.why


@pytest.mark.parametrize(
    ("code", "value", "unit", "kg"),
    [("29463-7", 70, "kg", 70), ("3141-9", 154, "[lb_av]", 69.9), ("29463-7", 65000, "g", 65)],
)
def test_body_weight_units_are_converted(
    fx: Any, code: str, value: float, unit: str, kg: float
) -> None:
    assert _with(fx, fx.observation(fx.LOINC, code, value, unit=unit)).facts.weight_kg == kg


def test_body_weight_in_an_unknown_unit_is_reported(fx: Any) -> None:
    got = _with(fx, fx.observation(fx.LOINC, "29463-7", 11, rid="st", unit="[stone_av]"))
    assert got.facts.weight_kg is None
    assert "weight unit '[stone_av]' not understood" in got.unmapped[0].why


def _status_obs(fx: Any, code: str, answer: Any, when: str, rid: str = "ps") -> Any:
    extra = (
        {"valueBoolean": answer}
        if isinstance(answer, bool)
        else {"valueCodeableConcept": _coded(*answer)}
    )
    return fx.observation(fx.LOINC, code, None, rid=rid, when=when, **extra)


def test_pregnancy_status_observation(fx: Any) -> None:
    yes = _status_obs(fx, "82810-3", (fx.SCT, "77386006"), "2026-09-01")
    assert _with(fx, yes).facts.pregnant is True
    recent_no = _status_obs(fx, "82810-3", (fx.SCT, "60001007"), "2026-11-10")
    assert _with(fx, recent_no).facts.pregnant is False
    stale_no = _status_obs(fx, "82810-3", (fx.SCT, "60001007"), "2025-11-10")
    got = _with(fx, stale_no)
    assert got.facts.pregnant is None  # a year-old "not pregnant" says nothing about now
    assert any("pregnant false" in n and "left unknown" in n for n in got.notes)
    unknown = _status_obs(fx, "82810-3", (fx.SCT, "261665006"), "2026-11-10")
    assert _with(fx, unknown).facts.pregnant is None


def test_answer_code_as_observation_code_is_reported(fx: Any) -> None:
    got = _with(fx, fx.observation(fx.SCT, "77386006", None, rid="odd", valueBoolean=True))
    assert got.facts.pregnant is None
    assert [(u.resource_id, u.code) for u in got.unmapped] == [("odd", "77386006")]


def test_breastfeeding_status_observation(fx: Any) -> None:
    assert _with(fx, _status_obs(fx, "63895-7", True, "2026-11-01")).facts.breastfeeding is True
    no = _status_obs(fx, "63895-7", (YESNO, "N"), "2026-11-01")
    assert _with(fx, no).facts.breastfeeding is False


# ------------------------------------------------------------------ conditions


@pytest.mark.parametrize(
    ("system", "code"),
    [
        ("SCT", "128053003"),
        ("SCT", "59282003"),
        ("ICD", "I26.99"),
        ("ICD", "I82.401"),
        ("ICD", "Z86.718"),
    ],
)
def test_vte_history_from_current_or_past_vte(fx: Any, system: str, code: str) -> None:
    resolved = {"clinicalStatus": {"coding": [{"code": "resolved"}]}}
    got = _with(fx, fx.condition((getattr(fx, system), code), rid="vte", **resolved))
    assert got.facts.vte_history is True


def test_refuted_vte_is_not_history(fx: Any) -> None:
    refuted = {"verificationStatus": {"coding": [{"code": "refuted"}]}}
    got = _with(fx, fx.condition((fx.SCT, "128053003"), rid="vte", **refuted))
    assert got.facts.vte_history is None


def test_pregnancy_condition_active_only(fx: Any) -> None:
    active = fx.condition((fx.SCT, "72892002"), rid="preg", onsetDateTime="2026-08-01")
    assert _with(fx, active).facts.pregnant is True
    resolved = fx.condition(
        (fx.SCT, "72892002"),
        rid="preg",
        onsetDateTime="2022-08-01",
        clinicalStatus={"coding": [{"code": "resolved"}]},
    )
    assert _with(fx, resolved).facts.pregnant is None


def test_long_term_systemic_steroids_is_glucocorticoid_use(fx: Any) -> None:
    got = _with(fx, fx.condition((fx.ICD, "Z79.52"), rid="gc"))
    assert got.facts.conditions == ["glucocorticoid_use"]


def test_long_term_use_conditions_fill_medication_classes(fx: Any) -> None:
    ended = {"clinicalStatus": {"coding": [{"code": "inactive"}]}}
    got = _with(
        fx,
        fx.condition((fx.ICD, "Z79.01"), rid="ac"),
        fx.condition((fx.ICD, "Z79.891"), rid="op"),
        fx.condition((fx.ICD, "Z79.811"), rid="ai"),
        fx.condition((fx.ICD, "Z79.02"), rid="ap", **ended),
    )
    assert got.facts.medications == ["anticoagulant", "aromatase_inhibitor", "opioid"]


def test_bed_confinement_is_immobilised(fx: Any) -> None:
    assert _with(fx, fx.condition((fx.ICD, "Z74.01"), rid="bed")).facts.immobilised is True
    resolved = {"clinicalStatus": {"coding": [{"code": "resolved"}]}}
    got = _with(fx, fx.condition((fx.ICD, "Z74.01"), rid="bed", **resolved))
    assert got.facts.immobilised is None  # no longer bed-bound is not "known mobile"


def test_coded_falls_in_the_last_year_are_counted(fx: Any) -> None:
    got = _with(
        fx,
        fx.condition((fx.ICD, "W19.XXXA"), rid="f1", onsetDateTime="2026-09-01"),
        fx.condition((fx.ICD, "W01.0XXA"), rid="f2", onsetDateTime="2026-03-01"),
        fx.condition((fx.ICD, "W19.XXXD"), rid="f3", onsetDateTime="2026-09-01"),  # same day
        fx.condition((fx.ICD, "W18.30XA"), rid="f4", onsetDateTime="2024-01-01"),  # too old
    )
    assert got.facts.falls_last_year == 2
    assert any("lower bound" in n for n in got.notes)
    assert _with(fx).facts.falls_last_year is None  # no coded fall: unknown, not 0


# ------------------------------------------------------------------ whole bundles


def test_bundle_with_everything(fx: Any) -> None:
    bundle = fx.bundle(
        fx.patient(),
        fx.condition((fx.ICD, "S32.020A"), rid="fx", onsetDateTime="2026-10-01"),
        fx.condition(
            (fx.SCT, "59282003"),
            rid="pe",
            onsetDateTime="2019-04-01",
            clinicalStatus={"coding": [{"code": "resolved"}]},
        ),
        fx.condition((fx.ICD, "Z79.52"), rid="steroid"),
        fx.condition((fx.ICD, "W19.XXXA"), rid="fall", onsetDateTime="2026-10-01"),
        fx.observation(fx.LOINC, "98979-8", 28, rid="egfr", unit="mL/min/{1.73_m2}"),
        fx.observation(fx.LOINC, "2164-2", 31, rid="crcl", unit="mL/min"),
        fx.observation(fx.LOINC, "29463-7", 45, rid="wt", unit="kg"),
        _status_obs(fx, "82810-3", (fx.SCT, "60001007"), "2026-11-15", rid="preg"),
        fx.med_request("993449", rid="dmab", authored="2026-04-01"),
        _administration("M05BX04", "2026-05-21", rid="inj"),
        fx.med_request("11289", rid="warf"),
        _statement(_coded(ATC, "H02AB06"), rid="pred"),
        _statement({"text": "Omeprazole 20 mg capsule"}, rid="ppi"),
        fx.allergy(fx.RXNORM, "5640", rid="ibu"),
        fx.allergy(ATC, "N02A", rid="opi"),
    )
    facts = to_facts(bundle, today=fx.today).facts
    assert plan(facts).recommendations  # the engine takes every v2 fact read here
    got = facts.model_dump(exclude_none=True)
    assert got == {
        "age": 76,
        "sex": "female",
        "fracture_levels": ["L2"],
        "days_since_onset": 51,
        "weight_kg": 45.0,
        "egfr": 28.0,
        "creatinine_clearance": 31.0,
        "osteoporosis_drug": "denosumab",
        "years_on_osteoporosis_drug": 0.6,
        "months_since_last_dose": 6.0,
        "medications": ["omeprazole", "prednisolone", "warfarin"],
        "allergies": ["ibuprofen", "opioid"],
        "conditions": ["glucocorticoid_use"],
        "vte_history": True,
        "pregnant": False,
        "falls_last_year": 1,
    }


# Facts of this v1-only bundle as the v1 intake (commit a9e88d4) gave them, plus `egfr`, which
# the same eGFR observation now also fills. Nothing of the v1 meaning changed.
V1_FACTS = {
    "age": 76,
    "allergies": ["ibuprofen"],
    "conditions": ["hyperparathyroidism"],
    "creatinine_clearance": 27.0,
    "days_since_onset": 51,
    "fracture_levels": ["L2"],
    "fracture_on_treatment": True,
    "osteoporosis_drug": "alendronate",
    "pain_score": 7.0,
    "sex": "female",
    "t_score": -3.1,
    "weight_kg": 49.9,
    "years_on_osteoporosis_drug": 2.8,
}


def test_v1_only_bundle_keeps_its_facts(fx: Any) -> None:
    bundle = fx.bundle(
        fx.patient(),
        fx.condition((fx.ICD, "S32.020A"), rid="fx", onsetDateTime="2026-10-01"),
        fx.condition((fx.ICD, "E21.0"), rid="hpt"),
        fx.observation(fx.LOINC, "62238-1", 27, rid="egfr", unit="mL/min/{1.73_m2}"),
        fx.observation(fx.LOINC, "29463-7", 110, rid="wt", unit="[lb_av]"),
        fx.observation(fx.LOINC, "38267-1", -3.1, rid="dxa", when="2026-05-01"),
        fx.observation(fx.LOINC, "72514-3", 7, rid="pain"),
        fx.med_request("904419", rid="aln", authored="2024-02-01"),
        fx.med_request("849574", rid="nap"),
        fx.allergy(fx.RXNORM, "5640", rid="ibu"),
    )
    got = to_facts(bundle, today=fx.today).facts.model_dump(exclude_none=True)
    assert got == {**V1_FACTS, "egfr": 27.0}
