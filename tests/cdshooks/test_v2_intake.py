"""The CDS Hooks services read the v2 facts through the same FHIR intake as everything else:
class-coded allergies, current medicines and the last injection date reach the cards."""

from __future__ import annotations

from typing import Any

from vertebra.cdshooks.orders import order_drugs
from vertebra.cdshooks.services import OPTIONAL_PREFETCH, PREFETCH
from vertebra.engine import plan
from vertebra.fhir import prefetch_to_resources, to_facts

SELECT = "vertebra-order-select"
VIEW = "vertebra-patient-view"
SCT = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"


def drafts(ehr: Any, *orders: dict[str, Any]) -> dict[str, Any]:
    bundle: dict[str, Any] = ehr.searchset(*orders)
    return bundle


def allergy(code: str, system: str = SCT) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"a-{code}",
        "patient": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]},
    }


def test_snomed_coded_allergy_in_prefetch_contraindicates_the_order(ehr: Any) -> None:
    prefetch = ehr.prefetch(observations=[ehr.egfr(85)])
    prefetch["allergies"] = ehr.searchset(allergy("387207008"))  # ibuprofen (substance)
    ibuprofen = ehr.order("m1", "Ibuprofen 400 MG Oral Tablet [Ibu]", "206905")
    body = ehr.body(
        "order-select",
        prefetch,
        selections=["MedicationRequest/m1"],
        draftOrders=drafts(ehr, ibuprofen),
    )
    r = ehr.call(SELECT, body)
    assert r.status_code == 200, r.text
    critical = [c for c in r.json()["cards"] if c["indicator"] == "critical"]
    assert len(critical) == 1 and "ibuprofen" in critical[0]["summary"].lower()
    # Without the allergy the same order raises no critical card: the allergy did it.
    prefetch["allergies"] = ehr.searchset()
    body = ehr.body(
        "order-select",
        prefetch,
        selections=["MedicationRequest/m1"],
        draftOrders=drafts(ehr, ibuprofen),
    )
    assert not [c for c in ehr.call(SELECT, body).json()["cards"] if c["indicator"] == "critical"]


def test_patient_view_plan_is_made_from_the_v2_facts(ehr: Any) -> None:
    prefetch = ehr.prefetch(observations=[ehr.egfr(45)])
    prefetch["medicationRequests"] = ehr.searchset(
        {
            "resourceType": "MedicationRequest",
            "id": "dmab",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "authoredOn": "2025-01-01",
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "M05BX04"}]},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "warf",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "Warfarin sodium 5 mg tablet"},
        },
    )
    prefetch["medicationAdministrations"] = ehr.searchset(
        {
            "resourceType": "MedicationAdministration",
            "id": "inj",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2025-07-01",
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "M05BX04"}]},
        },
    )
    facts = to_facts(prefetch_to_resources(prefetch)).facts
    assert facts.medications == ["warfarin"]
    assert facts.osteoporosis_drug == "denosumab"
    assert facts.months_since_last_dose is not None and facts.months_since_last_dose > 12
    r = ehr.call(VIEW, ehr.body("patient-view", prefetch))
    assert r.status_code == 200, r.text
    topics = {c["source"]["topic"]["code"] for c in r.json()["cards"]}
    expected = plan(facts)
    assert topics - {"plan-summary"} <= {rec.id for rec in expected.recommendations}
    referrals = {rec.id for rec in expected.recommendations if rec.category == "referral"}
    assert referrals <= topics


def test_optional_prefetch_may_be_left_out_without_fhir_access(ehr: Any) -> None:
    assert "medicationAdministrations" in PREFETCH
    assert set(PREFETCH) >= OPTIONAL_PREFETCH
    prefetch = ehr.prefetch(observations=[ehr.egfr(45)])
    assert "medicationAdministrations" not in prefetch
    assert ehr.call(VIEW, ehr.body("patient-view", prefetch)).status_code == 200
    del prefetch["allergies"]  # a required key: still HTTP 412
    r = ehr.call(VIEW, ehr.body("patient-view", prefetch))
    assert r.status_code == 412
    assert [e["field"] for e in r.json()["errors"]] == ["prefetch.allergies"]


def test_draft_orders_are_named_from_the_names_data() -> None:
    def order(text: str) -> dict[str, Any]:
        return {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": text}}

    assert order_drugs(order("Cholecalciferol 1000 UNT oral capsule")) == ("vitamin_d",)
    assert order_drugs(order("Prolia 60 mg/mL syringe")) == ("denosumab",)
    assert order_drugs(order("romosozumab-aqqg 105 MG [Evenity]")) == ("romosozumab",)
    # a topical NSAID is still checked (an NSAID allergy excludes it too)
    assert order_drugs(order("Diclofenac 1% gel")) == ("diclofenac",)
    assert order_drugs(order("Hydrocortisone 1% cream")) == ()  # not a vocabulary drug
    assert order_drugs(order("Ibuprofenate")) == ()


def test_patient_view_says_which_facts_came_from_a_note(ehr: Any) -> None:
    noted = ehr.condition("S32.020A", "fx2")
    noted["note"] = [{"text": "New urinary retention today."}]
    r = ehr.call(VIEW, ehr.body("patient-view", ehr.prefetch(conditions=[noted])))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    (card,) = [c for c in cards if c["summary"] == "Facts read from clinical notes, not coded"]
    assert (
        'Condition/fx2: neurological_deficit: true — "New urinary retention today."'
        in (card["detail"])
    )
    assert not [c for c in cards if "read from a report" in c["summary"]]
