"""FHIR resources to PatientFacts: each resource type, the untidy cases, and what is reported."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertebra import terminology
from vertebra.facts import LEVELS, FactsError
from vertebra.fhir import extract_facts, to_facts
from vertebra.fhir.inbound import CONDITION_SETS
from vertebra.terminology import ICD10CM

RESOLVED = {"coding": [{"code": "resolved"}]}
GFR = "mL/min/{1.73_m2}"


def _fields(exc: pytest.ExceptionInfo[FactsError]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in exc.value.errors}


# ------------------------------------------------------------------ Patient


def test_age_and_sex_from_patient(fx: Any) -> None:
    got = to_facts([fx.patient(), fx.condition((fx.ICD, "S32.010A"))], today=fx.today)
    assert got.facts.age == 76  # 1950-03-07 to 2026-11-21
    assert got.facts.sex == "female"
    assert got.patient_id == "p1"


@pytest.mark.parametrize(
    ("birth", "age", "could_be"),
    [("1950", 75, "76"), ("1950-03", 76, None), ("1950-11", 75, "76"), ("1950-12", 75, None)],
)
def test_partial_birth_date_uses_youngest_age_and_says_so(
    fx: Any, birth: str, age: int, could_be: str | None
) -> None:
    got = to_facts(
        [fx.patient(birthDate=birth), fx.condition((fx.ICD, "S32.010A"))], today=fx.today
    )
    assert got.facts.age == age
    note = next(n for n in got.notes if "partial birthDate" in n)
    assert birth in note
    assert (f"could be up to {could_be}" in note) is (could_be is not None)


def test_deceased_patient_age_at_death(fx: Any) -> None:
    patient = fx.patient(deceasedDateTime="2020-03-06T10:00:00Z")
    got = to_facts([patient, fx.condition((fx.ICD, "S32.010A"))], today=fx.today)
    assert got.facts.age == 69
    assert any("died" in n for n in got.notes)


@pytest.mark.parametrize(
    ("patient", "field"),
    [
        ({"gender": "other"}, "sex"),
        ({"gender": None}, "sex"),
        ({"birthDate": None}, "age"),
        ({"birthDate": "03/07/1950"}, "age"),
    ],
)
def test_patient_gaps_name_the_field(fx: Any, patient: dict[str, Any], field: str) -> None:
    resource = {k: v for k, v in {**fx.patient(), **patient}.items() if v is not None}
    with pytest.raises(FactsError) as exc:
        to_facts([resource, fx.condition((fx.ICD, "S32.010A"))], today=fx.today)
    assert field in _fields(exc)


def test_minor_is_rejected_by_the_facts_model(fx: Any) -> None:
    with pytest.raises(FactsError) as exc:
        to_facts(
            [fx.patient(birthDate="2015-01-01"), fx.condition((fx.ICD, "S32.010A"))],
            today=fx.today,
        )
    assert "age" in _fields(exc)


def test_no_patient_names_age_and_sex(fx: Any) -> None:
    with pytest.raises(FactsError) as exc:
        to_facts([fx.condition((fx.ICD, "S32.010A"))], today=fx.today)
    fields = _fields(exc)
    assert "no Patient" in fields["age"]
    assert "no Patient" in fields["sex"]


def test_two_patients_are_refused(fx: Any) -> None:
    other = {**fx.patient(), "id": "p2"}
    with pytest.raises(FactsError) as exc:
        to_facts([fx.patient(), other], today=fx.today)
    assert "2 Patient resources" in _fields(exc)["(body)"]


# ------------------------------------------------------------------ Condition: fractures


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("S32.010A", "L1"),
        ("S32.020D", "L2"),
        ("S32.030A", "L3"),
        ("S32.040A", "L4"),
        ("S32.050A", "L5"),
        ("S22.010A", "T1"),
        ("S22.020A", "T2"),
        ("S22.030A", "T3"),
        ("S22.040A", "T4"),
        ("S32010A", "L1"),
        ("s32.010a", "L1"),
    ],
)
def test_level_from_icd_code(fx: Any, code: str, level: str) -> None:
    got = to_facts([fx.patient(), fx.condition((fx.ICD, code))], today=fx.today)
    assert got.facts.fracture_levels == [level]
    assert got.assumed_levels == []


def test_levels_sorted_and_deduplicated_across_conditions(fx: Any) -> None:
    got = to_facts(
        [
            fx.patient(),
            fx.condition((fx.ICD, "S32.020A"), rid="a"),
            fx.condition((fx.ICD, "S22.040A"), rid="b"),
            fx.condition((fx.ICD, "S32.020D"), rid="c"),
        ],
        today=fx.today,
    )
    assert got.facts.fracture_levels == ["T4", "L2"]


@pytest.mark.parametrize("code", ["S22.080A", "S22.050A", "M80.08XA", "M48.56XA"])
def test_code_without_single_level_is_not_guessed(fx: Any, code: str) -> None:
    resources = [fx.patient(), fx.condition((fx.ICD, code))]
    got = to_facts(resources, today=fx.today)
    assert got.facts.fracture_levels is None
    assert any(n.startswith("fracture_levels unknown") and code in n for n in got.notes)
    extraction = extract_facts(resources, today=fx.today)
    assert "fracture_levels" not in extraction.values
    assert any(u.code == code and "without a level" in u.why for u in extraction.unmapped)
    assert any(n.startswith("level unknown") and code in n for n in extraction.notes)


def test_default_level_is_used_only_when_needed_and_flagged(fx: Any) -> None:
    resources = [fx.patient(), fx.condition((fx.SCT, "443165006"))]
    got = to_facts(resources, today=fx.today, default_level="T12")
    assert got.facts.fracture_levels == ["T12"]
    assert got.assumed_levels == ["T12"]
    assert any("ASSUMPTION" in n and "443165006" in n for n in got.notes)
    stated = to_facts(
        [*resources, fx.condition((fx.ICD, "S32.030A"), rid="c2")],
        today=fx.today,
        default_level="T12",
    )
    assert stated.facts.fracture_levels == ["L3"]
    assert stated.assumed_levels == []
    assert any("without a level were not given one" in n for n in stated.notes)


@pytest.mark.parametrize(
    ("site", "level"),
    [
        ({"text": "T12"}, "T12"),
        ({"text": "L2 vertebra"}, "L2"),
        ({"coding": [{"system": "http://snomed.info/sct", "code": "x", "display": "L1"}]}, "L1"),
        ({"text": "T11-T12"}, None),
        ({"text": "lumbar spine"}, None),
        ({"text": "L6"}, None),
    ],
)
def test_level_from_body_site_text(fx: Any, site: dict[str, Any], level: str | None) -> None:
    condition = fx.condition((fx.ICD, "S22.080A"), bodySite=[site])
    extraction = extract_facts([fx.patient(), condition], today=fx.today)
    assert extraction.values.get("fracture_levels") == ([level] if level else None)


def test_code_level_wins_over_disagreeing_body_site(fx: Any) -> None:
    condition = fx.condition((fx.ICD, "S32.010A"), bodySite=[{"text": "L3"}])
    got = to_facts([fx.patient(), condition], today=fx.today)
    assert got.facts.fracture_levels == ["L1"]
    assert any("bodySite says L3" in n for n in got.notes)


def test_several_codings_one_condition(fx: Any) -> None:
    condition = fx.condition(
        (fx.SCT, "42942008"), (fx.ICD, "S32.020A"), ("http://example.org/local", "VCF-2")
    )
    got = to_facts([fx.patient(), condition], today=fx.today)
    assert got.facts.fracture_levels == ["L2"]
    assert not any(n.startswith("level unknown") for n in got.notes)
    local = [u for u in got.unmapped if u.code == "VCF-2"]
    assert len(local) == 1
    assert "another coding" in local[0].why


def test_no_fracture_names_fracture_levels(fx: Any) -> None:
    with pytest.raises(FactsError) as exc:
        to_facts([fx.patient(), fx.condition((fx.SCT, "64859006"))], today=fx.today)
    assert _fields(exc) == {
        "fracture_levels": "no vertebral fracture Condition found in the bundle"
    }


@pytest.mark.parametrize("status", ["refuted", "entered-in-error"])
def test_refuted_fracture_is_skipped(fx: Any, status: str) -> None:
    condition = fx.condition(
        (fx.ICD, "S32.010A"),
        verificationStatus={"coding": [{"code": status}]},
    )
    with pytest.raises(FactsError) as exc:
        to_facts([fx.patient(), condition], today=fx.today)
    assert "fracture_levels" in _fields(exc)


def test_cervical_and_unknown_codes_are_reported_not_used(fx: Any) -> None:
    extraction = extract_facts(
        [fx.patient(), fx.condition((fx.ICD, "S12.000A"), (fx.SCT, "160903007"))],
        today=fx.today,
    )
    assert "fracture_levels" not in extraction.values
    reported = {(u.system, u.code) for u in extraction.unmapped}
    assert (fx.ICD, "S12.000A") in reported
    assert (fx.SCT, "160903007") in reported
    assert {(u.resource_type, u.resource_id) for u in extraction.unmapped} == {("Condition", "c1")}


def test_text_only_condition_is_reported(fx: Any) -> None:
    condition = {**fx.condition(), "code": {"text": "crush fracture L1"}}
    extraction = extract_facts([fx.patient(), condition], today=fx.today)
    assert "fracture_levels" not in extraction.values
    assert extraction.unmapped[0].display == "crush fracture L1"
    assert "text only" in extraction.unmapped[0].why


@pytest.mark.parametrize(
    ("onset", "days"),
    [
        ({"onsetDateTime": "2026-11-01T08:00:00+01:00"}, 20),
        ({"onsetDateTime": "2026-10"}, 21),
        ({"onsetPeriod": {"start": "2026-09-22"}}, 60),
        ({"recordedDate": "2026-11-11"}, 10),
    ],
)
def test_days_since_onset(fx: Any, onset: dict[str, Any], days: int) -> None:
    got = to_facts([fx.patient(), fx.condition((fx.ICD, "S32.010A"), **onset)], today=fx.today)
    assert got.facts.days_since_onset == days


def test_future_onset_left_unknown(fx: Any) -> None:
    condition = fx.condition((fx.ICD, "S32.010A"), onsetDateTime="2027-01-01")
    got = to_facts([fx.patient(), condition], today=fx.today)
    assert got.facts.days_since_onset is None


def test_mechanism_from_osteoporotic_code_only(fx: Any) -> None:
    osteoporotic = fx.condition((fx.ICD, "M80.08XA"), bodySite=[{"text": "T8"}])
    got = to_facts([fx.patient(), osteoporotic], today=fx.today)
    assert got.facts.mechanism == "low_energy"
    injury = to_facts([fx.patient(), fx.condition((fx.ICD, "S32.010A"))], today=fx.today)
    assert injury.facts.mechanism is None
    both = to_facts(
        [fx.patient(), osteoporotic, fx.condition((fx.ICD, "S32.010A"), rid="c2")],
        today=fx.today,
    )
    assert both.facts.mechanism is None


# ------------------------------------------------------------------ Condition: comorbidities


def test_comorbidities_map_to_vocabulary(fx: Any) -> None:
    got = to_facts(
        [
            fx.patient(),
            fx.condition((fx.ICD, "S32.010A")),
            fx.condition((fx.ICD, "E83.51"), rid="h"),
            fx.condition((fx.ICD, "I25.2"), rid="mi", clinicalStatus=RESOLVED),
            fx.condition((fx.ICD, "E05.90"), rid="t", clinicalStatus=RESOLVED),
            fx.condition((fx.ICD, "C50.911"), rid="ca"),
        ],
        today=fx.today,
    )
    assert got.facts.conditions == ["hypocalcaemia", "mi_or_stroke_history"]
    assert got.facts.history_of_cancer is True
    assert got.facts.suspected_malignancy is None
    assert any("hyperthyroidism not listed" in n for n in got.notes)


def test_absent_comorbidity_is_unknown_not_no(fx: Any) -> None:
    got = to_facts([fx.patient(), fx.condition((fx.ICD, "S32.010A"))], today=fx.today)
    assert got.facts.conditions is None
    assert got.facts.history_of_cancer is None
    assert got.facts.allergies is None


# ------------------------------------------------------------------ Observation


def _with(fx: Any, *resources: dict[str, Any]) -> Any:
    return to_facts([fx.patient(), fx.condition((fx.ICD, "S32.010A")), *resources], today=fx.today)


def test_t_score_lowest_of_most_recent_dxa(fx: Any) -> None:
    got = _with(
        fx,
        fx.observation(fx.LOINC, "38267-1", -2.1, rid="spine", when="2026-06-01"),
        fx.observation(fx.LOINC, "38264-8", -2.8, rid="hip", when="2026-06-01"),
        fx.observation(fx.LOINC, "38265-5", -3.9, rid="old", when="2019-01-01"),
    )
    assert got.facts.t_score == -2.8


def test_t_score_from_component(fx: Any) -> None:
    panel = fx.observation("http://example.org", "DXA-PANEL", None)
    panel["component"] = [
        {
            "code": {"coding": [{"system": fx.LOINC, "code": "38267-1"}]},
            "valueQuantity": {"value": -3.1},
        },
    ]
    got = _with(fx, panel)
    assert got.facts.t_score == -3.1
    assert any(u.code == "DXA-PANEL" for u in got.unmapped)


def test_egfr_pain_weight(fx: Any) -> None:
    got = _with(
        fx,
        fx.observation(fx.LOINC, "62238-1", 28, unit=GFR, rid="e1", when="2026-01-01"),
        fx.observation(fx.LOINC, "33914-3", 41, unit=GFR, rid="e2", when="2026-10-01"),
        fx.observation(fx.LOINC, "72514-3", 7, rid="p"),
        fx.observation(fx.LOINC, "29463-7", 132.0, unit="[lb_av]", rid="w"),
    )
    assert got.facts.creatinine_clearance == 41
    assert got.facts.pain_score == 7
    assert got.facts.weight_kg == pytest.approx(59.9)
    assert any("eGFR" in n and "Cockcroft" in n for n in got.notes)


@pytest.mark.parametrize(
    ("observation", "why"),
    [
        ({"valueQuantity": {"value": 14}}, "outside"),
        ({"dataAbsentReason": {"text": "asked, declined"}}, "dataAbsentReason"),
        ({"valueString": "severe"}, "no numeric value"),
    ],
)
def test_unusable_observation_values_are_reported(
    fx: Any, observation: dict[str, Any], why: str
) -> None:
    obs = {**fx.observation(fx.LOINC, "72514-3", None), **observation}
    got = _with(fx, obs)
    assert got.facts.pain_score is None
    assert any(u.code == "72514-3" and why in u.why for u in got.unmapped)


def test_entered_in_error_observation_skipped(fx: Any) -> None:
    got = _with(fx, fx.observation(fx.LOINC, "72514-3", 9, status="entered-in-error"))
    assert got.facts.pain_score is None


def test_unknown_loinc_reported(fx: Any) -> None:
    got = _with(fx, fx.observation(fx.LOINC, "8867-4", 80))
    assert [(u.resource_type, u.code) for u in got.unmapped] == [("Observation", "8867-4")]


# ------------------------------------------------------------------ medicines


def test_current_bone_drug_and_years_on_it(fx: Any) -> None:
    got = _with(
        fx,
        fx.med_request("46041", rid="r0", status="stopped", authored="2015-01-01"),
        fx.med_request("904419", rid="r1", status="stopped", authored="2023-12-01"),
        fx.med_request("904419", rid="r2", status="stopped", authored="2024-11-20"),
        fx.med_request("46041", rid="r3", authored="2025-11-21"),
    )
    assert got.facts.osteoporosis_drug == "alendronate"
    assert got.facts.years_on_osteoporosis_drug == pytest.approx(3.0)
    assert any("gaps" in n for n in got.notes)


def test_stopped_bone_drug_is_not_current(fx: Any) -> None:
    got = _with(fx, fx.med_request("46041", status="stopped"))
    assert got.facts.osteoporosis_drug is None
    assert any("none active" in n for n in got.notes)


def test_medication_reference_contained_and_bundled(fx: Any) -> None:
    contained = fx.med_request("0", rid="r1")
    del contained["medicationCodeableConcept"]
    contained["medicationReference"] = {"reference": "#med"}
    contained["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": fx.RXNORM, "code": "77655"}]},
        }
    ]
    assert _with(fx, contained).facts.osteoporosis_drug == "zoledronic_acid"

    bundled = fx.med_request("0", rid="r2")
    del bundled["medicationCodeableConcept"]
    bundled["medicationReference"] = {"reference": "Medication/m9"}
    medication = {
        "resourceType": "Medication",
        "id": "m9",
        "code": {"coding": [{"system": fx.RXNORM, "code": "993449"}]},
    }
    assert _with(fx, bundled, medication).facts.osteoporosis_drug == "denosumab"

    dangling = {**bundled, "medicationReference": {"reference": "Medication/absent"}}
    got = _with(fx, dangling)
    assert got.facts.osteoporosis_drug is None
    assert any("not in the bundle" in u.why for u in got.unmapped)


def test_medication_statement(fx: Any) -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": fx.RXNORM, "code": "72143"}]},
        "effectivePeriod": {"start": "2024-11-21"},
    }
    got = _with(fx, statement)
    assert got.facts.osteoporosis_drug == "raloxifene"
    assert got.facts.years_on_osteoporosis_drug == pytest.approx(2.0)


def test_fracture_on_treatment(fx: Any) -> None:
    got = to_facts(
        [
            fx.patient(),
            fx.condition((fx.ICD, "S32.010A"), onsetDateTime="2026-10-01"),
            fx.med_request("46041", rid="r1", status="stopped", authored="2024-01-01"),
            fx.med_request("46041", rid="r2", authored="2025-01-01"),
        ],
        today=fx.today,
    )
    assert got.facts.fracture_on_treatment is True
    new_drug = to_facts(
        [
            fx.patient(),
            fx.condition((fx.ICD, "S32.010A"), onsetDateTime="2026-10-01"),
            fx.med_request("46041", authored="2026-06-01"),
        ],
        today=fx.today,
    )
    assert new_drug.facts.fracture_on_treatment is None


def test_unknown_medicine_reported(fx: Any) -> None:
    got = _with(fx, fx.med_request("314076"))
    assert got.facts.osteoporosis_drug is None
    assert [u.code for u in got.unmapped] == ["314076"]


# ------------------------------------------------------------------ AllergyIntolerance


def test_drug_allergies(fx: Any) -> None:
    got = _with(
        fx,
        fx.allergy(fx.RXNORM, "5640", rid="a1"),
        fx.allergy(fx.RXNORM, "46041", rid="a2"),
        fx.allergy(fx.RXNORM, "3355", rid="a3", clinicalStatus=RESOLVED),
        fx.allergy(
            fx.RXNORM, "704", rid="a4", verificationStatus={"coding": [{"code": "refuted"}]}
        ),
        fx.allergy(fx.SCT, "111088007", rid="a5"),
    )
    assert got.facts.allergies == ["alendronate", "ibuprofen"]
    assert [(u.resource_id, u.code) for u in got.unmapped] == [("a5", "111088007")]


def test_allergy_without_code_reported(fx: Any) -> None:
    allergy = {**fx.allergy(fx.RXNORM, "5640"), "code": {"text": "Shellfish"}}
    got = _with(fx, allergy)
    assert got.facts.allergies is None
    assert got.unmapped[0].display == "Shellfish"


def test_allergy_text_only_is_read_by_name_and_said(fx: Any) -> None:
    allergy = {**fx.allergy(fx.RXNORM, "5640"), "code": {"text": "NSAIDs"}}
    got = _with(fx, allergy)
    assert got.facts.allergies == ["nsaid"]
    assert any("nsaid" in n and "matched by name" in n for n in got.notes)


# ------------------------------------------------------------------ properties

_LEVEL_CODES = {f"S32.0{n}0A": f"L{n}" for n in range(1, 6)} | {
    f"S22.0{n}0A": f"T{n}" for n in range(1, 5)
}
# Z codes no value set knows (Z33.1, Z34, Z79.52, Z86.71 are now read: pregnancy, steroids, VTE).
_UNKNOWN = st.from_regex(r"Z[0-9]{2}\.[0-9]", fullmatch=True).filter(
    lambda c: not any(terminology.load(v).find(ICD10CM, c) for v in CONDITION_SETS)
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # fx is a stateless factory
)
@given(
    known=st.lists(st.sampled_from(sorted(_LEVEL_CODES)), min_size=1, max_size=6),
    unknown=st.lists(_UNKNOWN, max_size=4, unique=True),
    shape=st.sampled_from(["list", "bundle", "prefetch"]),
    seed=st.randoms(use_true_random=False),
)
def test_levels_are_exactly_the_coded_ones_and_unknowns_are_reported(
    fx: Any, known: list[str], unknown: list[str], shape: str, seed: Any
) -> None:
    resources = [fx.condition((fx.ICD, c), rid=f"k{i}") for i, c in enumerate(known)]
    resources += [fx.condition((fx.ICD, c), rid=f"u{i}") for i, c in enumerate(unknown)]
    seed.shuffle(resources)
    resources.insert(seed.randrange(len(resources) + 1), fx.patient())
    data: Any = {
        "list": resources,
        "bundle": fx.bundle(*resources, kind="searchset"),
        "prefetch": {f"r{i}": r for i, r in enumerate(resources)},
    }[shape]
    got = to_facts(data, today=fx.today)
    expected = sorted({_LEVEL_CODES[c] for c in known}, key=LEVELS.index)
    assert got.facts.fracture_levels == expected
    assert sorted(u.code or "" for u in got.unmapped) == sorted(unknown)
    assert got.assumed_levels == []


def test_comparator_value_is_used_and_flagged(fx: Any) -> None:
    egfr = fx.observation(fx.LOINC, "62238-1", 60, unit=GFR)
    egfr["valueQuantity"]["comparator"] = ">"
    got = _with(fx, egfr)
    assert got.facts.creatinine_clearance == 60
    assert any("reported as >60" in n for n in got.notes)
