"""Plan to FHIR R4 RequestGroup: structure, proposals, citations, and R4(B) model validation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.requestgroup import RequestGroup
from fhir.resources.R4B.servicerequest import ServiceRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertebra.fhir import plan_to_fhir, recommendation_to_resource
from vertebra.plan import (
    ACTIONS,
    CATEGORIES,
    STRENGTHS,
    TARGETS,
    URGENCIES,
    Conflict,
    MissingInformation,
    Plan,
    Position,
    Recommendation,
    Source,
)

SOURCES = [
    Source(
        id="nogg-2021",
        title="Clinical guideline for the prevention and treatment of osteoporosis",
        organisation="NOGG",
        year=2021,
        url="https://www.nogg.org.uk/",
    ),
    Source(id="ema-2012", title="Calcitonin: limit long-term use", organisation="EMA", year=2012),
]


def rec(**overrides: Any) -> Recommendation:
    base: dict[str, Any] = {
        "id": "refer_fls",
        "category": "referral",
        "action": "do",
        "target": "fracture_liaison_service",
        "urgency": "routine",
        "title": "Refer to the fracture liaison service",
        "detail": "Assessment of bone health and fracture risk.",
        "rationale": ["new vertebral fracture", "age 76"],
        "citations": ["nogg-2021"],
        "strength": "strong",
        "table": "referral",
        "timing": "week-0",
    }
    return Recommendation.model_validate({**base, **overrides})


def make_plan(recs: list[Recommendation]) -> Plan:
    return Plan(
        knowledge_version="test-1",
        pathway="stable",
        phase="acute",
        recommendations=recs,
        conflicts=[
            Conflict(
                id="calcitonin",
                topic="calcitonin",
                summary="Seeds vs EMA.",
                positions=[Position(source="ema-2012", position="short term only")],
                followed="EMA 2012",
            )
        ],
        missing_information=[MissingInformation(field="t_score", why="no DXA recorded")],
        timeline=[],
        sources=SOURCES,
        summary="Stable fracture; refer to FLS.",
    )


PLAN_RECS = [
    rec(),
    rec(id="mri_spine", category="imaging", target=None, urgency="urgent", title="MRI spine"),
    rec(id="myeloma screen", category="laboratory", target=None, urgency=None, title="SPEP"),
    rec(
        id="alendronate",
        category="bone_health",
        target=None,
        urgency=None,
        drug="alendronate",
        dose="70 mg orally once weekly",
        title="Start alendronate",
    ),
    rec(
        id="no_calcitonin",
        category="analgesia",
        action="avoid",
        target=None,
        urgency=None,
        drug="calcitonin",
        title="Do not use nasal calcitonin",
        citations=["ema-2012"],
    ),
    rec(
        id="vertebroplasty",
        category="procedure",
        action="contraindicated",
        target=None,
        urgency=None,
        title="Vertebroplasty",
        citations=["nogg-2021", "unknown-src"],
    ),
    rec(
        id="exercise",
        category="mobilisation",
        action="consider",
        target=None,
        urgency=None,
        title="Back-extensor exercise",
        cautions=["stop if pain worsens"],
    ),
]


def test_request_group_validates_against_r4b() -> None:
    group = plan_to_fhir(make_plan(PLAN_RECS), patient_ref="Patient/p1")
    model = RequestGroup.model_validate(group)
    assert model.intent == "proposal"
    assert model.status == "draft"
    assert len(group["action"]) == len(PLAN_RECS)
    assert len(group["contained"]) == len(PLAN_RECS)
    for resource in group["contained"]:
        kinds: dict[str, type[ServiceRequest] | type[MedicationRequest]] = {
            "ServiceRequest": ServiceRequest,
            "MedicationRequest": MedicationRequest,
        }
        cls = kinds[resource["resourceType"]]
        cls.model_validate(resource)
        assert resource["intent"] == "proposal"
        assert resource["subject"] == {"reference": "Patient/p1"}


def test_every_action_points_at_its_contained_request() -> None:
    group = plan_to_fhir(make_plan(PLAN_RECS))
    ids = [r["id"] for r in group["contained"]]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", i) for i in ids)
    assert [a["resource"]["reference"] for a in group["action"]] == [f"#{i}" for i in ids]
    assert "myeloma-screen" in ids


def test_resource_kinds_and_codes() -> None:
    group = plan_to_fhir(make_plan(PLAN_RECS), patient_ref="Patient/p1")
    by_id = {r["id"]: r for r in group["contained"]}
    referral = by_id["refer_fls".replace("_", "-")]
    assert referral["resourceType"] == "ServiceRequest"
    assert referral["performerType"] == {"text": "Fracture liaison service"}
    assert referral["priority"] == "routine"
    assert [r["text"] for r in referral["reasonCode"]] == ["new vertebral fracture", "age 76"]
    assert by_id["mri-spine"]["priority"] == "urgent"
    assert by_id["mri-spine"]["category"][0]["coding"][0]["code"] == "363679005"
    assert by_id["myeloma-screen"]["category"][0]["coding"][0]["code"] == "108252007"
    drug = by_id["alendronate"]
    assert drug["resourceType"] == "MedicationRequest"
    assert drug["medicationCodeableConcept"]["coding"][0]["code"] == "46041"
    assert drug["dosageInstruction"] == [{"text": "70 mg orally once weekly"}]
    assert "doNotPerform" not in drug
    avoid = by_id["no-calcitonin"]
    assert avoid["resourceType"] == "MedicationRequest"
    assert avoid["doNotPerform"] is True
    assert "coding" not in avoid["medicationCodeableConcept"]  # no verified code: text only
    assert by_id["vertebroplasty"]["doNotPerform"] is True
    notes = [n["text"] for n in by_id["exercise"]["note"]]
    assert "Caution: stop if pain worsens" in notes
    assert any("consider" in n for n in notes)


def test_citations_in_action_documentation() -> None:
    group = plan_to_fhir(make_plan(PLAN_RECS))
    docs = {a["id"]: a["documentation"] for a in group["action"]}
    assert docs["refer-fls"] == [
        {
            "type": "citation",
            "label": "nogg-2021",
            "display": SOURCES[0].title,
            "citation": f"{SOURCES[0].title}. NOGG, 2021.",
            "url": "https://www.nogg.org.uk/",
        }
    ]
    assert [d["label"] for d in docs["vertebroplasty"]] == ["nogg-2021", "unknown-src"]


def test_plan_level_notes() -> None:
    texts = [n["text"] for n in plan_to_fhir(make_plan(PLAN_RECS))["note"]]
    assert texts[0] == "Stable fracture; refer to FLS."
    assert "Pathway: stable. Phase: acute." in texts
    assert any(t.startswith("Missing information — t_score") for t in texts)
    assert any(t.startswith("Conflict — calcitonin") and "EMA 2012" in t for t in texts)


def test_without_patient_reference_subject_is_display_only() -> None:
    group = plan_to_fhir(make_plan(PLAN_RECS[:1]))
    assert "reference" not in group["subject"]
    RequestGroup.model_validate(group)


def test_empty_plan_is_still_valid() -> None:
    group = plan_to_fhir(make_plan([]))
    assert "action" not in group and "contained" not in group
    RequestGroup.model_validate(group)


def test_duplicate_ids_are_made_unique() -> None:
    group = plan_to_fhir(make_plan([rec(id="a_b"), rec(id="a-b"), rec(id="a b")]))
    assert [r["id"] for r in group["contained"]] == ["a-b", "a-b-2", "a-b-3"]


def test_deterministic_output() -> None:
    one = json.dumps(plan_to_fhir(make_plan(PLAN_RECS), patient_ref="Patient/p1"))
    two = json.dumps(plan_to_fhir(make_plan(PLAN_RECS), patient_ref="Patient/p1"))
    assert one == two


@pytest.mark.parametrize("action", ["avoid", "contraindicated"])
def test_negative_recommendations_are_not_card_suggestions(action: str) -> None:
    negative = rec(action=action)
    assert recommendation_to_resource(negative, "Patient/p1") is None
    resource = recommendation_to_resource(negative, "Patient/p1", include_negative=True)
    assert resource is not None and resource["doNotPerform"] is True


def test_recommendation_to_resource_validates() -> None:
    resource = recommendation_to_resource(PLAN_RECS[3], "Patient/p1")
    assert resource is not None
    assert MedicationRequest.model_validate(resource).intent == "proposal"


recommendations = st.builds(
    lambda rid, category, action, target, urgency, drug, strength: rec(
        id=rid,
        category=category,
        action=action,
        target=target,
        urgency=urgency,
        drug=drug,
        strength=strength,
    ),
    st.text(min_size=1, max_size=80),
    st.sampled_from(CATEGORIES),
    st.sampled_from(ACTIONS),
    st.none() | st.sampled_from(TARGETS),
    st.none() | st.sampled_from(URGENCIES),
    st.none() | st.sampled_from(["alendronate", "zoledronic_acid", "paracetamol", "laxative"]),
    st.sampled_from(STRENGTHS),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(recommendations, max_size=8))
def test_any_plan_gives_a_valid_request_group(recs: list[Recommendation]) -> None:
    group = plan_to_fhir(make_plan(recs), patient_ref="Patient/p1")
    RequestGroup.model_validate(group)
    ids = [r["id"] for r in group.get("contained", [])]
    assert len(set(ids)) == len(ids) == len(recs)
    kinds = [r["resourceType"] for r in group.get("contained", [])]
    assert kinds == ["MedicationRequest" if r.drug else "ServiceRequest" for r in recs]


def test_recommendation_narratives_are_escaped_and_never_shared_between_answers() -> None:
    """The narrative XHTML of a recommendation is cached (as a string); each resource still
    gets its own ``text`` object, so changing one answer cannot change the next."""
    r = rec(title="Refer <urgently> & image", dose="5 mg < 10 mg")
    first = recommendation_to_resource(r, "Patient/p1")
    second = recommendation_to_resource(r, "Patient/p1")
    assert first is not None and second is not None
    assert first["text"] == second["text"] and first["text"] is not second["text"]
    assert first["text"]["div"] == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Proposed: Refer &lt;urgently&gt; &amp; '
        "image</p><p>5 mg &lt; 10 mg</p><p>Sources: " + ", ".join(r.citations) + "</p></div>"
    )
    first["text"]["div"] = "changed"
    third = recommendation_to_resource(r, "Patient/p1")
    assert third is not None and third["text"]["div"] == second["text"]["div"] != "changed"
