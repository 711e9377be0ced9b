"""Free-text notes in single-patient FHIR input (issue 12): ``Condition.note`` and
``Observation.note`` are read through vertebra.language for the facts a note can state safely
(red flags, the neurological examination). A fact from a note is listed with the resource and
the sentence, and never replaces a coded fact."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from vertebra.engine import plan
from vertebra.fhir import to_facts
from vertebra.fhir.note_text import read_note_facts
from vertebra.knowledge import load
from vertebra.language.notes import read_notes

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
TODAY = date(2026, 11, 30)


def _fracture(*notes: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2026-11-20",
        "recordedDate": "2026-11-21",
        "code": {"coding": [{"system": ICD, "code": "S32.010A"}]},
        "note": [{"text": n} for n in notes],
        **extra,
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1946-02-14"}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient, *resources)],
    }


def test_a_condition_note_supplies_red_flags_and_a_deficit_with_the_sentence() -> None:
    note = "Pain wakes her at night. Saddle anaesthesia on examination today."
    mapped = to_facts(bundle(_fracture(note)), today=TODAY)
    assert mapped.facts.red_flags == ["night_pain", "saddle_anaesthesia"]
    assert mapped.facts.neurological_deficit is True
    evidence = {(e.resource, e.facts[0], e.sentence) for e in mapped.text_evidence}
    assert ("Condition/c1", "red_flags: night_pain", "Pain wakes her at night.") in evidence
    assert (
        "Condition/c1",
        "neurological_deficit: true",
        "Saddle anaesthesia on examination today.",
    ) in evidence
    assert all(e.date == date(2026, 11, 21) for e in mapped.text_evidence)
    assert any("from note text, not coded" in n and "Condition/c1" in n for n in mapped.notes)
    # the plan acts on them: an immediate referral for the deficit
    p = plan(mapped.facts, load())
    assert any(r.urgency == "immediate" for r in p.recommendations)


def test_negations_are_read_as_written() -> None:
    mapped = to_facts(
        bundle(_fracture("Neuro intact. No night pain, no weight loss.")), today=TODAY
    )
    assert mapped.facts.neurological_deficit is False  # the whole examination
    assert mapped.facts.red_flags is None  # two negated flags do not make "no red flags"
    assert any('"night pain"' in n and "negated" in n for n in mapped.notes)
    none = to_facts(bundle(_fracture("No red flags.")), today=TODAY)
    assert none.facts.red_flags == []


@pytest.mark.parametrize(
    "note",
    [
        "No weakness.",  # one sign negated is not a normal examination
        "If weakness develops, return to ED.",  # hypothetical
        "?cauda equina syndrome",  # uncertain
        "Night pain?",  # a question
        "Mother had weight loss from cancer.",  # a relative
        "L1 height loss of 30%.",  # "height" is not corrected to "weight"
    ],
)
def test_what_a_note_does_not_state_stays_unknown(note: str) -> None:
    mapped = to_facts(bundle(_fracture(note)), today=TODAY)
    assert mapped.facts.neurological_deficit is None
    assert mapped.facts.red_flags is None
    assert not mapped.text_evidence


def test_a_coded_fact_is_never_replaced() -> None:
    read = read_note_facts(
        [_fracture("Neurologically intact. Fever.")],
        {"neurological_deficit": True, "red_flags": ["night_pain"]},
    )
    assert read.values == {}
    assert not read.evidence
    assert any("coded value true is kept" in n for n in read.notes)
    assert any("fever" in n and "coded value [night_pain] is kept" in n for n in read.notes)


def test_notes_that_disagree_keep_the_deficit() -> None:
    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Neuro exam"},
        "effectiveDateTime": "2026-11-22",
        "note": [{"text": "New urinary retention and leg weakness."}],
    }
    mapped = to_facts(bundle(_fracture("Neurologically intact."), obs), today=TODAY)
    assert mapped.facts.neurological_deficit is True
    assert mapped.facts.red_flags == ["bladder_bowel_dysfunction"]
    assert any("true kept over an earlier note's false" in n for n in mapped.notes)


def test_a_refuted_condition_s_note_is_not_read() -> None:
    refuted = _fracture(
        "Night pain.", id="c2", verificationStatus={"coding": [{"code": "refuted"}]}
    )
    mapped = to_facts(bundle(_fracture(), refuted), today=TODAY)
    assert mapped.facts.red_flags is None
    assert any("Condition/c2: note not read (status refuted)" in n for n in mapped.notes)


def test_the_reader_uses_the_shared_language_module() -> None:
    r = read_notes(["pt c/o nocturnal pain, unintentional wt loss; neuro intact"])
    assert r.values == {
        "neurological_deficit": False,
        "red_flags": ["night_pain", "unexplained_weight_loss"],
    }
