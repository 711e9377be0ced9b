"""Real FHIR is untidy: whatever shape the fields have, conversion reports, it never crashes."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vertebra.facts import FactsError
from vertebra.fhir import extract_facts, to_facts

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["1950", "2024-02", "2024-02-29", "S32.010A"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = [
    "id",
    "subject",
    "patient",
    "code",
    "bodySite",
    "clinicalStatus",
    "verificationStatus",
    "onsetDateTime",
    "onsetPeriod",
    "onsetAge",
    "recordedDate",
    "status",
    "effectiveDateTime",
    "effectivePeriod",
    "valueQuantity",
    "valueInteger",
    "component",
    "dataAbsentReason",
    "medicationCodeableConcept",
    "medicationReference",
    "contained",
    "authoredOn",
    "gender",
    "birthDate",
    "deceasedDateTime",
]
TYPES = [
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Medication",
    "Encounter",
]
CODED = st.fixed_dictionaries(
    {
        "coding": st.lists(
            st.fixed_dictionaries(
                {
                    "system": st.sampled_from(
                        [
                            "http://hl7.org/fhir/sid/icd-10-cm",
                            "http://loinc.org",
                            "http://snomed.info/sct",
                            "http://www.nlm.nih.gov/research/umls/rxnorm",
                        ]
                    ),
                    "code": st.sampled_from(
                        [
                            "S32.010A",
                            "S22.080A",
                            "443165006",
                            "38267-1",
                            "72514-3",
                            "29463-7",
                            "46041",
                            "5640",
                            "E83.51",
                            "C50.9",
                            "zzz",
                        ]
                    ),
                }
            ),
            max_size=2,
        )
    }
)


def resources() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda rtype, fields, code: {"resourceType": rtype, "code": code, **fields},
        st.sampled_from(TYPES),
        st.dictionaries(st.sampled_from(FIELDS), JSON | CODED, max_size=6),
        CODED,
    )


@settings(max_examples=300, deadline=None)
@given(
    patient=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5),
    items=st.lists(resources(), max_size=6),
)
def test_untidy_resources_never_crash(patient: dict[str, Any], items: list[dict[str, Any]]) -> None:
    bundle = [{**patient, "resourceType": "Patient", "id": "p"}, *items]
    try:
        extraction = extract_facts(bundle, today=date(2026, 11, 21), default_level="L1")
    except FactsError as exc:  # only structural problems may raise, naming a field
        assert all(e["field"] for e in exc.errors)
        return
    for u in extraction.unmapped:
        assert u.why
    try:
        to_facts(bundle, today=date(2026, 11, 21), default_level="L1")
    except FactsError as exc:
        assert all(e["field"] and e["message"] for e in exc.errors)


def test_leap_day_birth_with_onset_age() -> None:
    bundle: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1952-02-29"},
        {
            "resourceType": "Condition",
            "id": "c",
            "code": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "S32.030A"}]
            },
            "onsetAge": {"value": 73, "code": "a", "system": "http://unitsofmeasure.org"},
        },
    ]
    got = to_facts(bundle, today=date(2026, 11, 21))
    assert got.facts.fracture_levels == ["L3"]
    assert got.facts.days_since_onset is not None
    assert 0 <= got.facts.days_since_onset <= 366 * 2
