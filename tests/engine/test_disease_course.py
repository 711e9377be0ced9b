"""Issue 11 — the disease course: treatment failure and sequencing, red flags and cord compression,
procedures with consent. Each test states what a clinician expects, independently of the tables."""

from __future__ import annotations

from typing import Any

from tests.conftest import with_facts
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.knowledge import load
from vertebra.plan import Plan, Recommendation

KB = load()

ALL_RED_FLAGS_ABSENT: dict[str, Any] = {"red_flags": []}


def _plan(patch: dict[str, Any]) -> Plan:
    return plan(parse_facts(with_facts(patch)))


def _ids(p: Plan) -> set[str]:
    return {r.id for r in p.recommendations}


def _rec(p: Plan, rec_id: str) -> Recommendation:
    return next(r for r in p.recommendations if r.id == rec_id)


def _drug(p: Plan, drug: str) -> list[Recommendation]:
    return [r for r in p.recommendations if r.drug == drug]


def _fires_with(row_id: str) -> dict[str, Any]:
    """The row's own test case (its facts over the baseline patient)."""
    return dict(next(r for r in KB.rows() if r.row.id == row_id).row.test.fires_with)


def _guarded(row_id: str, extra: dict[str, Any]) -> None:
    """The row fires with its own test facts, and stops firing once ``extra`` is added."""
    assert row_id in _ids(_plan(_fires_with(row_id))), row_id
    assert row_id not in _ids(_plan({**_fires_with(row_id), **extra})), (row_id, extra)


# 1. Fracture on treatment = treatment failure ------------------------------------------------


def test_fracture_after_years_of_alendronate_is_treatment_failure_without_a_drug_holiday() -> None:
    p = _plan(
        {
            "osteoporosis_drug": "alendronate",
            "years_on_osteoporosis_drug": 5,
            "fracture_on_treatment": None,
        }
    )
    ids = _ids(p)
    assert "bone-review-bisphosphonate-3-5-years" not in ids
    assert "follow-up-treatment-review-3-5-years" not in ids
    assert _rec(p, "bone-treatment-failure-no-drug-holiday").action == "avoid"
    assert _rec(p, "bone-treatment-failure-check-adherence").action == "do"
    assert _rec(p, "bone-treatment-failure-switch-or-escalate").action == "consider"
    assert _rec(p, "refer-osteoporosis-specialist-failure-on-treatment").urgency == "urgent"
    # No "start alendronate first line" for a patient who fractured on it.
    assert "bone-oral-bisphosphonate-alendronate" not in ids
    assert all(r.action != "do" for r in _drug(p, "alendronate"))
    assert {r.drug for r in p.recommendations if r.action == "consider"} >= {
        "teriparatide",
        "romosozumab",
    }


def test_a_recorded_fracture_before_treatment_keeps_the_3_to_5_year_review() -> None:
    p = _plan(
        {
            "osteoporosis_drug": "alendronate",
            "years_on_osteoporosis_drug": 4,
            "fracture_on_treatment": False,
        }
    )
    assert "bone-review-bisphosphonate-3-5-years" in _ids(p)
    assert "bone-treatment-failure-no-drug-holiday" not in _ids(p)


def test_unknown_treatment_history_is_not_taken_as_no_failure() -> None:
    p = _plan(
        {
            "osteoporosis_drug": "alendronate",
            "years_on_osteoporosis_drug": None,
            "fracture_on_treatment": None,
        }
    )
    ids = _ids(p)
    assert "bone-review-bisphosphonate-3-5-years" not in ids
    review = _rec(p, "follow-up-treatment-review-3-5-years")
    assert review.action == "consider"
    assert any(c.startswith("Not yet confirmed") for c in review.cautions)
    missing = {m.field for m in p.missing_information}
    assert {"fracture_on_treatment", "years_on_osteoporosis_drug"} <= missing


# 2. Denosumab --------------------------------------------------------------------------------


def test_late_denosumab_warns_of_rebound_vertebral_fractures_and_never_stop() -> None:
    p = _plan({"osteoporosis_drug": "denosumab", "months_since_last_dose": 10})
    overdue = _rec(p, "bone-denosumab-dose-overdue")
    assert overdue.action == "do"
    assert "multiple vertebral fractures" in overdue.title + overdue.detail
    assert [r.action for r in _drug(p, "denosumab")] == ["do"]  # give it, never just stop
    never_stop = _rec(p, "bone-denosumab-never-stop-without-bisphosphonate")
    assert never_stop.timing == "26w"
    assert any(e.id == "26w" and never_stop.id in e.recommendations for e in p.timeline)


def test_denosumab_on_time_has_no_overdue_warning_but_keeps_the_schedule() -> None:
    p = _plan({"osteoporosis_drug": "denosumab", "months_since_last_dose": 4})
    assert "bone-denosumab-dose-overdue" not in _ids(p)
    assert "bone-denosumab-never-stop-without-bisphosphonate" in _ids(p)


def test_unknown_last_denosumab_dose_is_asked_for() -> None:
    p = _plan({"osteoporosis_drug": "denosumab"})
    assert _rec(p, "bone-denosumab-last-dose-unknown").category == "assessment"
    assert "months_since_last_dose" in {m.field for m in p.missing_information}


def test_no_switch_from_denosumab_to_teriparatide() -> None:
    p = _plan(
        {
            "osteoporosis_drug": "denosumab",
            "months_since_last_dose": 5,
            "fracture_on_treatment": True,
        }
    )
    teriparatide = _drug(p, "teriparatide")
    assert [r.action for r in teriparatide] == ["avoid"]
    assert "data-switch-2015" in teriparatide[0].citations
    assert not _drug(p, "abaloparatide")
    for row in (
        "bone-anabolic-teriparatide",
        "bone-anabolic-abaloparatide",
        "bone-teriparatide-course",
    ):
        _guarded(row, {"osteoporosis_drug": "denosumab", "fracture_on_treatment": True})
    assert _drug(p, "denosumab")[0].action == "do"  # continue it meanwhile: never simply stop


# 3. Very high risk: anabolic first, course lengths, what follows -----------------------------


def test_very_high_risk_sequence_and_course_lengths_in_the_timeline() -> None:
    p = _plan({"fracture_levels": ["L1", "L2"], "osteoporosis_drug": "none"})
    assert _rec(p, "bone-sequence-anabolic-then-antiresorptive").action == "do"
    romo = _rec(p, "bone-romosozumab-course")
    teri = _rec(p, "bone-teriparatide-course")
    assert (romo.timing, teri.timing) == ("52w", "2y")
    assert "12 monthly doses" in romo.title and "alendronate or zoledronic acid" in romo.title
    assert "24 months in a lifetime" in teri.title
    slots = [e.id for e in p.timeline]
    assert slots.index("52w") < slots.index("2y")


# 4. Myeloma screen and upper thoracic level ---------------------------------------------------


def test_every_vertebral_fracture_work_up_has_a_myeloma_screen() -> None:
    p = _plan({})
    screen = _rec(p, "lab-myeloma-screen")
    assert screen.action == "do"
    assert "free light chains" in screen.title and "electrophoresis" in screen.title


def test_fracture_at_t4_or_above_is_flagged_and_not_reassured() -> None:
    p = _plan({"fracture_levels": ["T3"], **ALL_RED_FLAGS_ABSENT})
    assert _rec(p, "redflag-upper-thoracic-level").action == "consider"
    assert "no-spinal-referral-needed" not in _ids(p)
    assert "education-natural-history" not in _ids(p)
    low = _plan({"fracture_levels": ["T8"], **ALL_RED_FLAGS_ABSENT})
    assert "redflag-upper-thoracic-level" not in _ids(low)


# 5. Red flags decide the pathway; no nerve root block, no false reassurance -----------------


def test_red_flags_make_the_fracture_suspected_pathological() -> None:
    for flag in (
        "night_pain",
        "unexplained_weight_loss",
        "fever",
        "immunosuppression",
        "iv_drug_use",
    ):
        p = _plan({"red_flags": [flag], "fracture_levels": ["L3"]})
        assert p.pathway == "pathological_suspected", flag
        ids = _ids(p)
        assert "analgesia-l2-nerve-root-block" not in ids
        assert "education-natural-history" not in ids
        assert "refer-oncology-mdt" in ids
        assert _rec(p, "redflag-infection-or-malignancy-history").action == "do"
    _guarded("analgesia-l2-nerve-root-block", {"red_flags": ["night_pain"]})
    _guarded("no-spinal-referral-needed", {"red_flags": ["fever"]})


def test_without_red_flags_recorded_reassurance_is_only_a_consider() -> None:
    p = _plan({"red_flags": None})
    assert _rec(p, "education-natural-history").action == "consider"
    assert "assess-red-flags" in _ids(p)
    assert "no-spinal-referral-needed" not in _ids(p)
    assert "red_flags" in {m.field for m in p.missing_information}


def test_cancer_history_with_red_flags_recorded_absent_stays_stable() -> None:
    p = _plan({"history_of_cancer": True, "suspected_malignancy": False, **ALL_RED_FLAGS_ABSENT})
    assert p.pathway == "stable"


# 6. Cauda equina / cord compression -----------------------------------------------------------


def test_cord_compression_symptoms_put_immediate_mri_and_referral_first() -> None:
    for flag in ("saddle_anaesthesia", "bladder_bowel_dysfunction", "progressive_weakness"):
        p = _plan({"red_flags": [flag]})
        first_two = {r.id for r in p.recommendations[:2]}
        assert first_two == {
            "redflag-cord-compression-immediate-mri",
            "redflag-cord-compression-immediate-referral",
        }, flag
        assert all(r.urgency == "immediate" for r in p.recommendations[:2])
        ids = _ids(p)
        assert "imaging-mri-without-contrast" not in ids  # one MRI verdict, the immediate one
        assert "mobilise-limited-bed-rest" not in ids
        assert "unstable-strict-bed-rest" in ids
        assert "education-natural-history" not in ids
    for row in ("imaging-mri-without-contrast", "mobilise-limited-bed-rest"):
        _guarded(row, {"red_flags": ["saddle_anaesthesia"]})
    _guarded("pathological-whole-spine-mri", {"red_flags": ["progressive_weakness"]})
    assert (
        "surgery-indications"
        in _rec(
            _plan({"red_flags": ["saddle_anaesthesia"]}),
            "redflag-cord-compression-immediate-referral",
        ).conflicts
    )


def test_cord_compression_with_cancer_is_one_immediate_mri_and_oncology_now() -> None:
    p = _plan(
        {
            "history_of_cancer": True,
            "suspected_malignancy": None,
            "red_flags": ["progressive_weakness"],
        }
    )
    assert p.pathway == "pathological_suspected"
    mri = [r for r in p.recommendations if r.category == "imaging"]
    assert [r.id for r in mri] == ["redflag-cord-compression-immediate-mri"]
    immediate = {r.id for r in p.recommendations if r.urgency == "immediate"}
    assert immediate == {
        "redflag-cord-compression-immediate-mri",
        "redflag-cord-compression-immediate-referral",
        "refer-oncology-mdt",
    }
    assert all(r.urgency == "immediate" for r in p.recommendations[:3])


def test_no_oral_bisphosphonate_during_strict_bed_rest_or_immobilisation() -> None:
    for patch in (
        {"red_flags": ["saddle_anaesthesia"]},
        {"columns_involved": "multiple"},
        {"immobilised": True},
    ):
        p = _plan(patch)
        for drug in ("alendronate", "risedronate", "ibandronate"):
            assert all(r.action not in ("do", "consider") for r in _drug(p, drug)), (patch, drug)
        assert _rec(p, "bone-no-oral-bisphosphonate-bed-rest").action == "avoid"
        assert _drug(p, "zoledronic_acid")[0].action == "do"

    # 7. Unknown neurology or stability: mobilisation is conditional ------------------------------
    for row in (
        "bone-oral-bisphosphonate-alendronate",
        "bone-oral-bisphosphonate-risedronate",
        "bone-ibandronate",
        "bone-oral-bisphosphonate-very-high-risk",
        "bone-continue-alendronate",
        "bone-continue-risedronate",
        "bone-continue-ibandronate",
    ):
        _guarded(row, {"immobilised": True})


def test_unknown_neurology_or_stability_makes_early_mobilisation_a_consider() -> None:
    for patch in (
        {"neurological_deficit": None},
        {"spinal_instability": None},
        {"columns_involved": None},
    ):
        rec = _rec(_plan(patch), "mobilise-limited-bed-rest")
        assert rec.action == "consider", patch
        assert any(c.startswith("Not yet confirmed") for c in rec.cautions)
    assert _rec(_plan({}), "mobilise-limited-bed-rest").action == "do"
    assert "assess-neurological-examination" in _ids(_plan({"neurological_deficit": None}))
    assert "assess-stability" in _ids(_plan({"spinal_instability": None}))


# 8. Augmentation consent -----------------------------------------------------------------------


def test_augmentation_comes_with_consent_content() -> None:
    p = _plan(
        {
            "weeks_of_conservative_care": 13,
            "days_since_onset": 95,
            "pain_trend": "stable",
            "pain_score": 8,
        }
    )
    rec = _rec(p, "procedure-augmentation-after-failed-conservative-care")
    consent = " ".join(rec.cautions)
    for word in (
        "cement leakage",
        "embolism",
        "infection",
        "kyphoplasty seems safer",
        "may be lower",
    ):
        assert word in consent
    assert {"seed-003", "papanastassiou-2012"} <= set(rec.citations)
    for row in (
        "procedure-augmentation-after-failed-conservative-care",
        "procedure-augmentation-early-window",
        "procedure-augmentation-bed-rest-complication-risk",
        "procedure-augmentation-older-inpatient",
        "procedure-augmentation-hospitalised-unremitting-pain",
        "unstable-augmentation-at-surgery",
    ):
        cautions = " ".join(_rec(_plan(_fires_with(row)), row).cautions)
        assert "cement leakage" in cautions and "embolism" in cautions, row


# 9. Secondary causes --------------------------------------------------------------------------


def test_glucocorticoid_induced_osteoporosis_has_its_own_threshold() -> None:
    high = _plan(
        {
            "medications": ["prednisolone"],
            "glucocorticoid_mg_per_day": 10,
            "glucocorticoid_months": 6,
        }
    )
    assert _rec(high, "secondary-glucocorticoid-osteoporosis").action == "do"
    low = _plan(
        {
            "medications": ["prednisolone"],
            "glucocorticoid_mg_per_day": 5,
            "glucocorticoid_months": 6,
        }
    )
    assert "secondary-glucocorticoid-osteoporosis" not in _ids(low)
    unknown = _plan({"medications": ["glucocorticoid"]})
    assert "secondary-glucocorticoid-dose-unknown" in _ids(unknown)
    assert "glucocorticoid_mg_per_day" in {m.field for m in unknown.missing_information}


def test_hormone_treatments_refer_to_the_osteoporosis_specialist() -> None:
    ai = _plan({"medications": ["anastrozole"]})
    assert _rec(ai, "secondary-aromatase-inhibitor").target == "osteoporosis_specialist"
    adt = _plan({"sex": "male", "postmenopausal": None, "medications": ["leuprorelin"]})
    assert _rec(adt, "secondary-androgen-deprivation").target == "osteoporosis_specialist"
    assert not {"secondary-aromatase-inhibitor", "secondary-androgen-deprivation"} & _ids(
        _plan({"medications": ["omeprazole"]})
    )


# 10. Falls -------------------------------------------------------------------------------------


def test_falls_assessment_and_strength_and_balance_for_everyone_sooner_after_a_fall() -> None:
    p = _plan({"falls_last_year": 0})
    assert _rec(p, "falls-risk-assessment").timing == "12w"
    assert _rec(p, "falls-strength-and-balance").timing == "16w"
    assert "falls-recent-faller" not in _ids(p)
    faller = _plan({"falls_last_year": 2})
    assert _rec(faller, "falls-recent-faller").timing == "now"


# 11. Conflicts shown side by side ---------------------------------------------------------------


def test_seed_disagreements_are_shown_as_conflicts() -> None:
    p = _plan({"fracture_levels": ["L3"]})
    block = next(c for c in p.conflicts if c.id == "l2-nerve-root-block-timing")
    assert {pos.source for pos in block.positions} >= {"seed-001", "seed-004"}
    p = _plan({"deformity": "progressive"})
    surgery = next(c for c in p.conflicts if c.id == "surgery-indications")
    assert {pos.source for pos in surgery.positions} >= {"seed-001", "seed-004"}
    for row in (
        "procedure-open-reconstruction-deformity",
        "procedure-surgery-progressive-kyphosis",
        "procedure-surgery-rarely-appropriate-intact-stable",
        "unstable-open-reconstruction",
    ):
        assert "surgery-indications" in _rec(_plan(_fires_with(row)), row).conflicts, row


def test_a_completed_anabolic_course_is_stopped_and_followed_not_repeated() -> None:
    p = _plan({"osteoporosis_drug": "teriparatide", "years_on_osteoporosis_drug": 2})
    assert [r.action for r in _drug(p, "teriparatide")] == ["avoid"]
    assert "bone-teriparatide-course" not in _ids(p)
    assert "antiresorptive" in _rec(p, "bone-teriparatide-course-complete").title
    p = _plan({"osteoporosis_drug": "romosozumab", "years_on_osteoporosis_drug": 1})
    assert [r.action for r in _drug(p, "romosozumab")] == ["avoid"]
    assert "bone-romosozumab-course" not in _ids(p)
    _guarded(
        "bone-anabolic-teriparatide",
        {"osteoporosis_drug": "teriparatide", "years_on_osteoporosis_drug": 3},
    )
    _guarded(
        "bone-anabolic-romosozumab",
        {"osteoporosis_drug": "romosozumab", "years_on_osteoporosis_drug": 1},
    )
    ongoing = _plan({"osteoporosis_drug": "romosozumab", "years_on_osteoporosis_drug": 0.5})
    assert _rec(ongoing, "bone-romosozumab-course").timing == "52w"
