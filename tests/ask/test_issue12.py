"""Every finding of issue 12 ("questions and notes read the way clinicians write them")."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from vertebra.ask import answer
from vertebra.ask.core import answer_at
from vertebra.ask.evaluation import answer_paragraph
from vertebra.ask.extract import extract

MONDAY = dt.date(2026, 11, 30)


def facts(q: str) -> dict[str, object]:
    return extract(q, MONDAY).values


# --- shorthand that was not understood ------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "days"),
    [
        ("T12 #, 3/52", 21),
        ("L1 # 2/12 ago", 60),
        ("L2 # 2 wks ago", 14),
        ("L1 # 1 wk", 7),
        ("L2 # last Tuesday", 6),
    ],
)
def test_relative_times(question: str, days: int) -> None:
    assert facts(question)["days_since_onset"] == days


@pytest.mark.parametrize(
    ("question", "age", "sex"),
    [("81F T12 #", 81, "female"), ("78yo M, L1 #", 78, "male"), ("She's 84, L2 #", 84, "female")],
)
def test_ages(question: str, age: int, sex: str) -> None:
    got = facts(question)
    assert (got["age"], got["sex"]) == (age, sex)


def test_an_age_range_is_used_as_a_range_not_a_default() -> None:
    ex = extract("in her 80s, L1 #")
    assert ex.age_range == (80, 89) and "age" not in ex.values
    a = answer("in her 80s, L1 VCF, what analgesia?")
    assert a.facts is not None
    assert a.facts.ranges == {"age": [80, 89]}
    assert "age" not in a.facts.assumed
    assert "Age: 70 years (assumed)" not in a.answer
    assert "80–89" in a.answer


def test_an_unreadable_age_is_reported_not_defaulted() -> None:
    a = answer("patient aged approx eighty, L2 #, analgesia?")
    assert a.facts is not None
    assert "age" in a.facts.unreadable and "age" not in a.facts.assumed
    assert "Could not read the age" in a.answer
    assert "70 years is assumed" not in a.answer


@pytest.mark.parametrize(
    ("question", "levels"),
    [
        ("L1,2,4 VCFs", ["L1", "L2", "L4"]),
        ("T11-L1 #s", ["T11", "T12", "L1"]),
        ("D12 #", ["T12"]),
        ("lumbar one compression fracture", ["L1"]),
    ],
)
def test_levels(question: str, levels: list[str]) -> None:
    assert facts(question)["fracture_levels"] == levels


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("L1 #, neuro intact", {"neurological_deficit": False}),
        ("L1 #, no neuro", {"neurological_deficit": False}),
        ("L1 #, known prostate ca", {"history_of_cancer": True}),
        ("T8 #, SOB", {"pulmonary_dysfunction": True}),
        ("L1 #, 8/10 despite oxycodone", {"analgesia_failed": True, "pain_score": 8.0}),
        ("L2 # on Prolia", {"osteoporosis_drug": "denosumab"}),
        ("L2 # on warfarin and sertraline", {"medications": ["warfarin", "sertraline"]}),
        ("L2 # on apixaban", {"medications": ["apixaban"]}),
        ("L4 #, urinary retention", {"red_flags": ["bladder_bowel_dysfunction"]}),
        ("L2 #, eGFR 28", {"egfr": 28}),
    ],
)
def test_clinical_shorthand(question: str, expected: dict[str, object]) -> None:
    got = facts(question)
    for k, v in expected.items():
        assert got[k] == v, (k, got)


def test_typos_and_vp_kp() -> None:
    a = answer("alendronat CrCl cutoff?")
    assert a.covered and "35 mL/min" in answer_paragraph(a.answer)
    a = answer("compresion fracture L2, ?VP/KP")
    assert a.covered
    assert a.facts is not None and a.facts.extracted["fracture_levels"] == ["L2"]
    assert re.search("vertebroplasty|kyphoplasty|augmentation", a.answer, re.I)


# --- scope guard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "why"),
    [
        ("8 yo boy with Duchenne, T7 compression # on steroids - plan?", "18"),
        ("30M fell 5 m off scaffolding, L1 burst #, manage?", "high-energy"),
        ("Hip # in 85F with known osteoporosis, on alendronate - next?", "hip"),
        ("C5 fracture in an 80F", "cervical"),
    ],
)
def test_out_of_scope_is_declined_saying_why(question: str, why: str) -> None:
    a = answer(question)
    assert not a.covered and a.mode == "not_covered" and a.plan is None
    para = answer_paragraph(a.answer)
    assert why in para
    assert "70 mg" not in a.answer and "alendronate first line" not in a.answer


def test_high_energy_decline_cites_the_trauma_rule() -> None:
    a = answer("RTA, 45F, L2 burst fracture")
    assert not a.covered and "trauma pathway" in a.answer and a.citations


# --- answer composition -----------------------------------------------------------------------


def test_emergencies_come_first() -> None:
    para = answer_paragraph(answer("T8 # with leg weakness and urinary retention, 76F").answer)
    first = para.split(".")[0]
    assert first.startswith("Immediate referral to") and "spine surgery" in first
    assert para.index("Immediate") < (para.find("Paracetamol") % 10_000)


def test_a_named_drug_tried_does_not_take_over() -> None:
    a = answer("8/10 despite paracetamol, L2 #, next steps?")
    para = answer_paragraph(a.answer)
    assert a.intent != "drug"
    assert not para.startswith("Paracetamol first")
    assert re.search("naproxen|oxycodone|pain management", para, re.I)


def test_two_topics_are_both_answered() -> None:
    a = answer("L3 osteoporotic #: which analgesia and bone protection?")
    para = answer_paragraph(a.answer)
    assert re.search("paracetamol|naproxen|oxycodone", para, re.I)
    assert re.search("bone protection|alendronate|bisphosphonate", para, re.I)


def test_answer_paragraph_is_three_to_six_sentences_without_if_lists() -> None:
    para = answer_paragraph(answer("81F T12 #, 3/52, neuro intact, pain 7/10. next steps?").answer)
    n = len(re.findall(r"\.(?:\[\^\d+\])+", para))
    assert 3 <= n <= 6, para
    assert para.count("If ") <= 1
    assert "If neurological deficit is yes" not in para  # the question said neuro intact


@pytest.mark.parametrize(
    ("question", "point"),
    [
        ("alendronate CrCl cutoff?", "35 mL/min"),
        ("max paracetamol", "4000 mg|4 g"),
        ("calcium and vit D", "1000–1200 mg.*800 IU|800 IU.*1000–1200 mg"),
    ],
)
def test_fact_questions_are_answered(question: str, point: str) -> None:
    a = answer(question)
    assert a.covered and a.mode == "fact"
    assert re.search(point, answer_paragraph(a.answer))


def test_retrieved_statements_that_contradict_the_plan_are_left_out() -> None:
    a = answer("T12 VCF with marked kyphosis in a 78F: referral?")
    assert "Refer to spine surgery — significant or progressive kyphotic deformity" in a.answer
    assert "no significant deformity" not in a.answer.lower()
    assert "Open surgery is rarely appropriate" not in a.answer  # needs a stable, mild case


def test_answers_have_a_length_budget(eval_questions: list[dict[str, object]]) -> None:
    import statistics

    lengths = [len(answer(str(q["question"])).answer) for q in eval_questions]
    # 21,700 characters before issue 12; 16,780 after issue 11's rows; 11,828 once sections
    # keep to the question's topic (disagreements, what we'd need to know) and repeated
    # cautions are collapsed
    assert statistics.median(lengths) < 14_000


def test_only_the_disagreements_about_the_question_are_shown() -> None:
    labs = answer("Which blood tests should I order for a new vertebral fracture?").answer
    assert "Myeloma screen" in labs
    assert "### Vertebroplasty and kyphoplasty" not in labs  # not what was asked
    plan = answer("Treatment plan for an L1 compression fracture in a 75-year-old woman?").answer
    assert "### Vertebroplasty and kyphoplasty" in plan  # augmentation is part of treatment


def test_a_caution_shared_by_two_drugs_is_written_once() -> None:
    a = answer("Treatment plan for an L1 compression fracture in a 75-year-old woman?").answer
    older = "Older people: increased risk of GI bleeding and cardiovascular events"
    assert a.count(older) == 1  # under naproxen; diclofenac points to it
    diclofenac = a.split("Or diclofenac potassium", 1)[1].split("\n- ", 1)[0]
    assert "also the cautions listed above for: naproxen." in diclofenac
    # the engine's "Not yet confirmed" note belongs to each recommendation and stays
    assert a.count("Not yet confirmed — document: Days since onset.") >= 2


def test_relative_dates_use_an_injectable_today() -> None:
    a = answer_at("L2 # last Tuesday, 80F", dt.date(2026, 12, 3))
    assert a.facts is not None and a.facts.extracted["days_since_onset"] == 2


def test_a_hostile_question_is_cheap() -> None:
    start = time.perf_counter()
    a = answer("1" * 2000)
    assert time.perf_counter() - start < 1.0
    assert not a.covered


def test_a_named_detail_without_a_readable_value_is_reported() -> None:
    a = answer("L1 #, 82F, CrCl low, alendronate?")
    assert a.facts is not None
    assert "creatinine_clearance" not in a.facts.extracted
    assert "creatinine_clearance" in a.facts.unreadable
    assert "creatinine_clearance" not in a.facts.assumed
    assert "Could not read Creatinine clearance" in a.answer
    # a readable value is not reported as unreadable
    b = answer("L1 #, 82F, CrCl 25, alendronate?")
    assert b.facts is not None and not b.facts.unreadable
