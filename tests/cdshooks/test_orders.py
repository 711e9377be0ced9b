"""order-select / order-sign: draft orders that conflict with the plan are flagged."""

from __future__ import annotations

from typing import Any

from vertebra.cdshooks.orders import draft_orders, drug_conflicts, order_drugs
from vertebra.facts import parse_facts
from vertebra.knowledge import load

SELECT = "vertebra-order-select"
SIGN = "vertebra-order-sign"
BASE: dict[str, Any] = {
    "age": 80,
    "sex": "female",
    "fracture_levels": ["L1"],
    "prior_fragility_fractures": 1,
}


def drafts(ehr: Any, *orders: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": o} for o in orders],
    }


def test_nsaid_with_creatinine_clearance_below_30_is_flagged(ehr: Any) -> None:
    naproxen = ehr.order("m1", "Naproxen sodium 220 MG Oral Tablet", "849574")
    paracetamol = ehr.order("m2", "Acetaminophen 325 MG Oral Tablet", "313782")
    body = ehr.body(
        "order-select",
        ehr.prefetch(observations=[ehr.egfr(25)]),
        selections=["MedicationRequest/m1"],
        draftOrders=drafts(ehr, naproxen, paracetamol),
    )
    r = ehr.call(SELECT, body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    flagged = [c for c in cards if c["indicator"] in ("warning", "critical")]
    assert len(flagged) == 1
    card = flagged[0]
    assert "naproxen" in card["summary"].lower()
    assert "renal" in card["detail"].lower() or "30" in card["detail"]
    assert len(card["summary"]) < 140
    action = card["suggestions"][0]["actions"][0]
    assert action == {
        "type": "delete",
        "description": action["description"],
        "resourceId": "MedicationRequest/m1",
    }
    assert card["selectionBehavior"] == "at-most-one"
    assert card["source"]["label"].startswith("vertebra")


def test_order_select_checks_only_the_selected_orders(ehr: Any) -> None:
    naproxen = ehr.order("m1", "Naproxen sodium 220 MG Oral Tablet", "849574")
    paracetamol = ehr.order("m2", "Acetaminophen 325 MG Oral Tablet", "313782")
    body = ehr.body(
        "order-select",
        ehr.prefetch(observations=[ehr.egfr(25)]),
        selections=["MedicationRequest/m2"],
        draftOrders=drafts(ehr, naproxen, paracetamol),
    )
    cards = ehr.call(SELECT, body).json()["cards"]
    assert not any("naproxen" in c["summary"].lower() for c in cards)


def test_nsaid_with_normal_renal_function_is_not_flagged_for_renal_reasons(ehr: Any) -> None:
    naproxen = ehr.order("m1", "Naproxen sodium 220 MG Oral Tablet", "849574")
    body = ehr.body(
        "order-sign", ehr.prefetch(observations=[ehr.egfr(85)]), draftOrders=drafts(ehr, naproxen)
    )
    cards = ehr.call(SIGN, body).json()["cards"]
    assert all(c["indicator"] == "info" for c in cards)  # only "check first" reminders


def test_romosozumab_after_myocardial_infarction_is_critical(ehr: Any) -> None:
    romo = ehr.order("r1", "romosozumab-aqqg 105 MG/1.17 ML Prefilled Syringe [Evenity]")
    prefetch = ehr.prefetch(conditions=[ehr.condition("I21.4", "mi1", onset="2024-03-01")])
    body = ehr.body("order-sign", prefetch, draftOrders=drafts(ehr, romo))
    r = ehr.call(SIGN, body)
    assert r.status_code == 200, r.text
    (card,) = [c for c in r.json()["cards"] if c["indicator"] == "critical"]
    assert "romosozumab" in card["summary"].lower()
    assert card["suggestions"][0]["actions"][0]["resourceId"] == "MedicationRequest/r1"
    assert card["suggestions"][0]["isRecommended"] is True
    event = ehr.client.app.state.vertebra.store.events()[0]
    assert event.hook == "order-sign"
    assert event.card_uuids == [c["uuid"] for c in r.json()["cards"]]


def test_order_hooks_need_draft_orders(ehr: Any) -> None:
    r = ehr.call(SELECT, ehr.body("order-select", ehr.prefetch()))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"context.selections", "context.draftOrders"}


def test_alendronate_with_an_oesophageal_disorder_is_flagged() -> None:
    kb = load()
    facts = parse_facts(dict(BASE, conditions=["oesophageal_disorder"], creatinine_clearance=60))
    conflict = drug_conflicts(kb, facts, "alendronate")
    assert conflict is not None
    assert conflict.action in ("avoid", "contraindicated")
    assert "safety-oral-bisphosphonate-oesophagus" in conflict.safety_ids
    assert conflict.references


def test_unknown_safety_facts_ask_to_check_first() -> None:
    conflict = drug_conflicts(load(), parse_facts(BASE), "naproxen")
    assert conflict is not None
    assert conflict.action == "check"
    assert "creatinine_clearance" in conflict.unknown


def test_a_safe_drug_has_no_conflict() -> None:
    facts = parse_facts(dict(BASE, conditions=[], creatinine_clearance=80, allergies=[]))
    assert drug_conflicts(load(), facts, "paracetamol") is None


def test_recorded_allergy_contraindicates() -> None:
    facts = parse_facts(dict(BASE, allergies=["paracetamol"]))
    conflict = drug_conflicts(load(), facts, "paracetamol")
    assert conflict is not None and conflict.action == "contraindicated"


def test_order_drugs_by_code_then_by_words() -> None:
    rx = "http://www.nlm.nih.gov/research/umls/rxnorm"
    coded = {
        "resourceType": "MedicationRequest",
        "medicationCodeableConcept": {"coding": [{"system": rx, "code": "849574"}]},
    }
    assert order_drugs(coded) == ("naproxen",)
    texted = {
        "resourceType": "MedicationRequest",
        "medicationCodeableConcept": {"text": "Zoledronic acid 5 mg IV infusion"},
    }
    assert order_drugs(texted) == ("zoledronic_acid",)
    unknown = {
        "resourceType": "MedicationRequest",
        "medicationCodeableConcept": {"text": "Metformin 500 mg"},
    }
    assert order_drugs(unknown) == ()
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": dict(coded, id="a")},
            {"resource": dict(texted, id="b")},
            {"resource": {"resourceType": "Patient", "id": "p"}},
        ],
    }
    assert [o.reference for o in draft_orders(bundle)] == [
        "MedicationRequest/a",
        "MedicationRequest/b",
    ]
    assert [o.reference for o in draft_orders(bundle, ["MedicationRequest/b"])] == [
        "MedicationRequest/b"
    ]
