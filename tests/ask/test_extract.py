"""Patient details read from questions."""

from __future__ import annotations

from typing import Any

import pytest

from vertebra.ask import answer
from vertebra.ask.extract import extract


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("fracture at L2 (lumbar vertebra 2)", {"fracture_levels": ["L2"]}),
        (
            "T12 and L1 wedge fractures",
            {"fracture_levels": ["T12", "L1"], "columns_involved": "anterior"},
        ),
        ("a 78-year-old woman", {"age": 78, "sex": "female"}),
        ("man, 45, with back pain", {"age": 45, "sex": "male"}),
        ("neurologically intact", {"neurological_deficit": False}),
        ("no neurological deficit", {"neurological_deficit": False}),
        ("new leg weakness", {"neurological_deficit": True}),
        ("an unstable fracture", {"spinal_instability": True}),
        ("pain for 3 months", {"days_since_onset": 90}),
        ("fracture 2 weeks ago", {"days_since_onset": 14}),
        ("pain 8/10", {"pain_score": 8.0}),
        ("creatinine clearance of 28", {"creatinine_clearance": 28.0}),
        ("CrCl 25", {"creatinine_clearance": 25.0}),
        ("T-score of -3.1", {"t_score": -3.1}),
        ("after a car accident", {"mechanism": "high_energy"}),
        ("history of breast cancer", {"history_of_cancer": True}),
        ("no red flags", {"suspected_malignancy": False}),
        ("progressive kyphosis", {"deformity": "progressive"}),
        ("allergic to naproxen", {"allergies": ["naproxen"]}),
        (
            "with dementia and a previous stroke",
            {"conditions": ["dementia", "mi_or_stroke_history"]},
        ),
        ("postmenopausal", {"postmenopausal": True, "sex": "female"}),
    ],
)
def test_details_are_read(question: str, expected: dict[str, Any]) -> None:
    values = extract(question).values
    for key, value in expected.items():
        assert values.get(key) == value, (question, values)


def test_conservative_care_sets_weeks_and_onset() -> None:
    values = extract("worsening pain despite 3 months of conservative management").values
    assert values["weeks_of_conservative_care"] >= 12
    assert values["days_since_onset"] == 90
    assert values["pain_trend"] == "worsening"


def test_current_drug_versus_drug_asked_about() -> None:
    on = extract("patient on alendronate for 6 years")
    assert on.values["osteoporosis_drug"] == "alendronate"
    assert on.values["years_on_osteoporosis_drug"] == 6
    asked = extract("what is the contraindication of teriparatide?")
    assert "osteoporosis_drug" not in asked.values and asked.drugs == ["teriparatide"]


def test_nothing_is_invented() -> None:
    assert extract("What is the sensitivity of closed-fist percussion?").values == {}
    assert extract("What is the capital of France?").values == {}


def test_egfr_is_its_own_fact_and_the_plan_says_it_used_it_as_clearance() -> None:
    e = extract("eGFR 40")
    assert e.values == {"egfr": 40} and e.egfr  # contract v2 name, not creatinine_clearance
    a = answer("L1 fracture, 80F, eGFR 28, alendronate?")
    assert a.facts is not None
    assert a.facts.extracted["egfr"] == 28
    assert a.facts.assumed["creatinine_clearance"] == 28
    assert any("eGFR" in s for s in a.facts.assumptions)
