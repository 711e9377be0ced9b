"""Patient facts (docs/contract.md §1): strict validation with errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import with_facts
from vertebra.facts import FACT_NAMES, FactsError, PatientFacts, facts_json_schema, parse_facts

VALID = {"age": 70, "sex": "female", "fracture_levels": ["L1"]}

# One bad value per field: (field, value, words the message must contain)
BAD: list[tuple[str, Any, str]] = [
    ("age", 17, "greater than or equal to 18"),
    ("age", 121, "less than or equal to 120"),
    ("age", "70", "valid integer"),
    ("age", 70.5, "valid integer"),
    ("sex", "other", "'female' or 'male'"),
    ("postmenopausal", "yes", "valid boolean"),
    ("weight_kg", -1, "greater than 0"),
    ("fracture_levels", [], "at least 1"),
    ("fracture_levels", ["L6"], "'T1'"),
    ("fracture_levels", ["L1", "L1"], "duplicate"),
    ("fracture_levels", "L1", "valid list"),
    ("days_since_onset", -1, "greater than or equal to 0"),
    ("mechanism", "fall", "'low_energy' or 'high_energy'"),
    ("columns_involved", "posterior", "'anterior' or 'multiple'"),
    ("neurological_deficit", 1, "valid boolean"),
    ("spinal_instability", "no", "valid boolean"),
    ("deformity", "mild", "'none', 'significant' or 'progressive'"),
    ("pulmonary_dysfunction", 0, "valid boolean"),
    ("history_of_cancer", "false", "valid boolean"),
    ("suspected_malignancy", [], "valid boolean"),
    ("pain_score", 11, "less than or equal to 10"),
    ("pain_score", -0.5, "greater than or equal to 0"),
    ("pain_trend", "better", "'improving', 'stable' or 'worsening'"),
    ("analgesia_failed", None, ""),  # None is allowed (unknown)
    ("weeks_of_conservative_care", -2, "greater than or equal to 0"),
    ("hospitalised", "y", "valid boolean"),
    ("mri_done", 2, "valid boolean"),
    ("mri_oedema", "oedema", "valid boolean"),
    ("mri_contraindicated", {}, "valid boolean"),
    ("t_score", -8, "greater than or equal to -7"),
    ("t_score", 5, "less than or equal to 4"),
    ("prior_fragility_fractures", -1, "greater than or equal to 0"),
    ("prior_fragility_fractures", 1.5, "valid integer"),
    ("osteoporosis_drug", "fosamax", "'alendronate'"),
    ("years_on_osteoporosis_drug", -1, "greater than or equal to 0"),
    ("bmd_loss_percent_per_year", "4%", "valid number"),
    ("fracture_on_treatment", "no", "valid boolean"),
    ("creatinine_clearance", -5, "greater than or equal to 0"),
    ("comorbidity_count", -1, "greater than or equal to 0"),
    ("conditions", ["diabetes"], "'oesophageal_disorder'"),
    ("conditions", ["dementia", "dementia"], "duplicate"),
    ("allergies", ["penicillin"], "'paracetamol'"),
    ("allergies", ["nsaid", "nsaid"], "duplicate"),
    ("osteoporosis_drug", "paracetamol", "'none'"),  # v2: an analgesic is not a bone drug
    # v2 facts
    ("medications", ["aspirin", "aspirin"], "duplicate"),
    ("medications", ["wafarin"], "'warfarin'"),
    ("medications", "warfarin", "valid list"),
    ("months_since_last_dose", -1, "greater than or equal to 0"),
    ("egfr", 250, "less than or equal to 200"),
    ("pregnant", "no", "valid boolean"),
    ("breastfeeding", 0, "valid boolean"),
    ("vte_history", "yes", "valid boolean"),
    ("immobilised", 1, "valid boolean"),
    ("falls_last_year", 1.5, "valid integer"),
    ("glucocorticoid_mg_per_day", -5, "greater than or equal to 0"),
    ("glucocorticoid_months", "3", "valid number"),
    ("red_flags", ["back_pain"], "'night_pain'"),
    ("red_flags", ["fever", "fever"], "duplicate"),
]


def test_v2_facts_are_accepted_and_v1_input_keeps_its_meaning() -> None:
    v2 = parse_facts(
        {
            **VALID,
            "medications": ["warfarin", "ssri_snri"],
            "allergies": ["nsaid", "oxycodone"],
            "osteoporosis_drug": "none",
            "red_flags": ["night_pain"],
            "egfr": 25,
        }
    )
    assert v2.medications == ["warfarin", "ssri_snri"]
    assert v2.osteoporosis_drug == "none"
    v1 = parse_facts(VALID)
    assert v1.medications is None and v1.red_flags is None and v1.egfr is None


@pytest.mark.parametrize(("field", "value", "words"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_value_is_rejected_naming_the_field(field: str, value: Any, words: str) -> None:
    data = {**VALID, field: value}
    if value is None:
        assert getattr(parse_facts(data), field) is None
        return
    with pytest.raises(FactsError) as err:
        parse_facts(data)
    fields = [e["field"].split("[")[0] for e in err.value.errors]
    assert field in fields
    assert words in str(err.value)


def test_every_field_has_a_bad_input_test() -> None:
    assert {b[0] for b in BAD} == set(FACT_NAMES)


def test_vocabulary_errors_list_the_allowed_values() -> None:
    with pytest.raises(FactsError) as err:
        parse_facts({**VALID, "conditions": ["diabetes"]})
    (entry,) = err.value.errors
    assert entry["field"] == "conditions[0]"
    assert "glucocorticoid_use" in entry["allowed"]


def test_unknown_field_is_rejected_and_named() -> None:
    with pytest.raises(FactsError) as err:
        parse_facts({**VALID, "bmi": 22})
    assert err.value.errors[0]["field"] == "bmi"
    assert "unknown field" in err.value.errors[0]["message"]


@pytest.mark.parametrize("field", ["age", "sex", "fracture_levels"])
def test_required_fields(field: str) -> None:
    data = dict(VALID)
    del data[field]
    with pytest.raises(FactsError) as err:
        parse_facts(data)
    assert err.value.errors == [
        {"field": field, "message": "this field is required", "type": "missing"}
    ]


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(FactsError) as err:
        parse_facts({"age": 5, "sex": "x", "fracture_levels": ["Q1"], "extra": 1})
    assert {e["field"] for e in err.value.errors} == {"age", "sex", "fracture_levels[0]", "extra"}


def test_not_an_object() -> None:
    with pytest.raises(FactsError) as err:
        parse_facts([1, 2])
    assert err.value.errors[0]["field"] == "(body)"


def test_absent_means_unknown_not_no() -> None:
    facts = parse_facts(VALID)
    for name in FACT_NAMES:
        if name not in VALID:
            assert getattr(facts, name) is None, name


def test_baseline_is_valid_and_complete() -> None:
    facts = parse_facts(with_facts({}))
    assert isinstance(facts, PatientFacts)


def test_json_schema_lists_every_field() -> None:
    schema = facts_json_schema()
    assert set(schema["properties"]) == set(FACT_NAMES)
    assert set(schema["required"]) == {"age", "sex", "fracture_levels"}
    assert schema["additionalProperties"] is False
