"""Hypothesis strategies: any valid patient facts, with any subset of fields unknown."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from vertebra.facts import (
    ALLERGY_CLASSES,
    BONE_DRUGS,
    CONDITIONS,
    DRUGS,
    LEVELS,
    MEDICINES,
    RED_FLAGS,
)

OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "postmenopausal": st.booleans(),
    "weight_kg": st.floats(30, 150),
    "days_since_onset": st.integers(0, 2000),
    "mechanism": st.sampled_from(["low_energy", "high_energy"]),
    "columns_involved": st.sampled_from(["anterior", "multiple"]),
    "neurological_deficit": st.booleans(),
    "spinal_instability": st.booleans(),
    "deformity": st.sampled_from(["none", "significant", "progressive"]),
    "pulmonary_dysfunction": st.booleans(),
    "history_of_cancer": st.booleans(),
    "suspected_malignancy": st.booleans(),
    "pain_score": st.floats(0, 10),
    "pain_trend": st.sampled_from(["improving", "stable", "worsening"]),
    "analgesia_failed": st.booleans(),
    "weeks_of_conservative_care": st.floats(0, 200),
    "hospitalised": st.booleans(),
    "mri_done": st.booleans(),
    "mri_oedema": st.booleans(),
    "mri_contraindicated": st.booleans(),
    "t_score": st.floats(-7, 4),
    "prior_fragility_fractures": st.integers(0, 10),
    "osteoporosis_drug": st.sampled_from((*BONE_DRUGS, "none")),
    "years_on_osteoporosis_drug": st.floats(0, 20),
    "bmd_loss_percent_per_year": st.floats(-20, 20),
    "fracture_on_treatment": st.booleans(),
    "creatinine_clearance": st.floats(0, 200),
    "comorbidity_count": st.integers(0, 12),
    "conditions": st.lists(st.sampled_from(CONDITIONS), unique=True, max_size=6),
    "allergies": st.lists(st.sampled_from(DRUGS + ALLERGY_CLASSES), unique=True, max_size=4),
    # v2
    "medications": st.lists(st.sampled_from(MEDICINES), unique=True, max_size=5),
    "months_since_last_dose": st.floats(0, 60),
    "egfr": st.floats(0, 200),
    "pregnant": st.booleans(),
    "breastfeeding": st.booleans(),
    "vte_history": st.booleans(),
    "immobilised": st.booleans(),
    "falls_last_year": st.integers(0, 12),
    "glucocorticoid_mg_per_day": st.floats(0, 80),
    "glucocorticoid_months": st.floats(0, 240),
    "red_flags": st.lists(st.sampled_from(RED_FLAGS), unique=True, max_size=3),
}


@st.composite
def patient_facts(draw: st.DrawFn) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "age": draw(st.integers(18, 120)),
        "sex": draw(st.sampled_from(["female", "male"])),
        "fracture_levels": draw(
            st.lists(st.sampled_from(LEVELS), min_size=1, max_size=4, unique=True)
        ),
    }
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True)):
        facts[name] = draw(OPTIONAL[name])
    return facts
