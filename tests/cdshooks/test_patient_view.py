"""patient-view through the ASGI app with signed JWTs: cards from the plan, per the spec."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI

from tests.cdshooks.conftest import fhir_app
from vertebra.engine import plan
from vertebra.fhir import prefetch_to_resources, to_facts
from vertebra.http.testing import LoopbackServer

SERVICE = "vertebra-patient-view"
# Card and suggestion uuids: RFC 9562 version 7 (time-ordered, vertebra.store.ids.new_uuid).
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def check_card(card: dict[str, Any]) -> None:
    """CDS Hooks 2.0 card rules."""
    assert UUID.match(card["uuid"])
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"]
    if "url" in card["source"]:
        assert card["source"]["url"].startswith("http")
    for suggestion in card.get("suggestions", []):
        assert UUID.match(suggestion["uuid"])
        assert suggestion["label"]
        for action in suggestion["actions"]:
            assert action["type"] in ("create", "update", "delete")
            assert action["description"]
            if action["type"] == "create":
                assert action["resource"]["resourceType"] in ("ServiceRequest", "MedicationRequest")
    if card.get("suggestions"):
        assert card["selectionBehavior"] in ("at-most-one", "any")
    for link in card.get("links", []):
        assert link["type"] in ("absolute", "smart") and link["url"].startswith("http")
    for reason in card.get("overrideReasons", []):
        assert reason["code"] and reason["system"]


def test_discovery_lists_the_services_with_prefetch(ehr: Any) -> None:
    r = ehr.client.get("/cds-services")
    assert r.status_code == 200
    services = {s["id"]: s for s in r.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    for service in services.values():
        assert service["title"] and service["description"]
        queries = service["prefetch"].values()
        resource_types = {q.split("/")[0].split("?")[0] for q in queries}
        assert resource_types == {
            "Patient",
            "Condition",
            "Observation",
            "MedicationRequest",
            "MedicationStatement",
            "AllergyIntolerance",
            "MedicationAdministration",
            "DiagnosticReport",
            "DocumentReference",
        }
        assert all("{{context.patientId}}" in q for q in queries)


def test_patient_view_cards_follow_the_plan_and_the_spec(ehr: Any) -> None:
    prefetch = ehr.prefetch(observations=[ehr.egfr(25)])
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert cards
    for card in cards:
        check_card(card)

    expected = plan(to_facts(prefetch_to_resources(prefetch)).facts)
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert "plan-summary" in topics
    rec_ids = {r.id for r in expected.recommendations}
    assert set(topics) - {"plan-summary"} <= rec_ids
    referrals = [r.id for r in expected.recommendations if r.category == "referral"]
    assert set(referrals) <= set(topics)
    # Actionable cards carry the order as a create suggestion.
    with_orders = [c for c in cards if c.get("suggestions")]
    assert with_orders
    for card in with_orders:
        resource = card["suggestions"][0]["actions"][0]["resource"]
        assert resource["subject"]["reference"] == "Patient/p1"
    # Urgency order: critical before warning before info.
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert [rank[c["indicator"]] for c in cards] == sorted(rank[c["indicator"]] for c in cards)
    # Medicines to avoid get their own warning card; other "avoid" advice is in the summary.
    summary = next(c for c in cards if c["source"]["topic"]["code"] == "plan-summary")
    for rec in expected.recommendations:
        if rec.action not in ("avoid", "contraindicated"):
            continue
        if rec.drug is not None:
            card = next(c for c in cards if c["source"]["topic"]["code"] == rec.id)
            assert card["indicator"] == "warning"
        else:
            assert rec.id not in topics
            assert rec.title in summary["detail"]


def test_patient_view_is_audited_without_patient_data(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    body = ehr.body("patient-view", prefetch)
    cards = ehr.call(SERVICE, body).json()["cards"]
    (event,) = ehr.client.app.state.vertebra.store.events()
    assert event.hook == "patient-view" and event.service == SERVICE
    assert event.hook_instance == body["hookInstance"]
    assert event.card_uuids == [c["uuid"] for c in cards]
    assert event.input_facts is None
    assert event.caller == f"{ehr.signer.iss} sub={ehr.signer.sub}"
    assert event.recommendation_ids
    assert "Quackenbush" not in repr(event.__dict__)


def test_patient_without_vertebral_fracture_gets_no_cards(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    prefetch["conditions"] = ehr.searchset(ehr.condition("J45.909", "asthma"))
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 200
    assert r.json() == {"cards": []}
    assert ehr.client.app.state.vertebra.store.events()[0].outcome == "not_applicable"


def test_fracture_without_a_level_asks_for_it(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    prefetch["conditions"] = ehr.searchset(ehr.condition("M80.08XA", "fx-nolevel"))
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 200
    cards = r.json()["cards"]
    for card in cards:
        check_card(card)
    summary = next(c for c in cards if c["source"]["topic"]["code"] == "plan-summary")
    assert "level" in summary["detail"].lower()


@pytest.mark.parametrize("drop", [None, "observations"])
def test_missing_prefetch_without_fhir_server_is_412(ehr: Any, drop: str | None) -> None:
    if drop is None:
        body = ehr.body("patient-view", None)
    else:
        prefetch = ehr.prefetch()
        del prefetch[drop]
        body = ehr.body("patient-view", prefetch)
    r = ehr.call(SERVICE, body)
    assert r.status_code == 412
    assert r.json()["error"] == "prefetch_missing"
    if drop:
        assert [e["field"] for e in r.json()["errors"]] == [f"prefetch.{drop}"]
    # an authenticated call that was refused is audited (and its token used up)
    (event,) = ehr.client.app.state.vertebra.store.events()
    assert event.outcome == "refused:412:prefetch_missing"
    assert event.card_uuids == []


def fhir_server(prefetch: dict[str, Any], seen: list[dict[str, str]]) -> FastAPI:
    """The FHIR server of these tests: it needs the bearer token, and has no resource type that
    the prefetch leaves out (404)."""
    return fhir_app(prefetch, seen, token="fhir-access-token", missing=404)


def test_missing_prefetch_is_fetched_from_the_fhir_server(ehr: Any) -> None:
    prefetch = ehr.prefetch(observations=[ehr.egfr(25)])
    expected = ehr.call(SERVICE, ehr.body("patient-view", prefetch)).json()["cards"]
    seen: list[dict[str, str]] = []
    with LoopbackServer(fhir_server(prefetch, seen)) as base:
        partial = {"patient": prefetch["patient"]}
        body = ehr.body("patient-view", partial)
        body["fhirServer"] = f"{base}/fhir"
        body["fhirAuthorization"] = {
            "access_token": "fhir-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "vertebra",
        }
        r = ehr.call(SERVICE, body)
    assert r.status_code == 200, r.text
    # 5 required keys and the 3 optional ones (404 here: read without them)
    assert len(seen) == 8 and {h.get("authorization") for h in seen} == {"Bearer fhir-access-token"}
    got = r.json()["cards"]
    assert [(c["summary"], c["indicator"]) for c in got] == [
        (c["summary"], c["indicator"]) for c in expected
    ]


def test_fhir_server_outside_the_allowlist_is_refused(make_ehr: Any) -> None:
    ehr = make_ehr(fhir_server_allowlist=["https://fhir.hospital.example"])
    body = ehr.body("patient-view", None)
    body["fhirServer"] = "http://169.254.169.254/latest"
    body["fhirAuthorization"] = {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 1,
        "scope": "x",
        "subject": "y",
    }
    r = ehr.call(SERVICE, body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "fhirServer"


def test_invalid_requests_name_every_field(ehr: Any) -> None:
    body = ehr.body("order-sign", {"conditions": 5})
    del body["context"]["patientId"]
    r = ehr.call(SERVICE, body)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"hook", "context.patientId", "prefetch.conditions"}
    hook = next(e for e in r.json()["errors"] if e["field"] == "hook")
    assert hook["allowed"] == ["patient-view"]

    r = ehr.call(SERVICE, {"context": "nope", "fhirServer": "ftp://x"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"hook", "hookInstance", "context", "fhirServer"} <= fields


def test_unknown_service_is_404(ehr: Any) -> None:
    r = ehr.call("no-such-service", ehr.body("patient-view", ehr.prefetch()))
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_hook_logs_carry_no_patient_data(ehr: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"):
        ehr.call(SERVICE, ehr.body("patient-view", ehr.prefetch()))
        ehr.call(SERVICE, ehr.body("patient-view", None))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Quackenbush" not in text and "1946" not in text and "p1" not in text


def test_patient_view_from_a_report_only_prefetch(ehr: Any) -> None:
    sentence = "Acute L1 compression fracture with marrow oedema."
    prefetch = ehr.prefetch()
    prefetch["conditions"] = ehr.searchset()
    prefetch["reports"] = ehr.searchset(
        {
            "resourceType": "DiagnosticReport",
            "id": "mri-1",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-11-20",
            "conclusion": sentence,
        }
    )
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    for card in cards:
        check_card(card)
    (text_card,) = [c for c in cards if c["summary"].startswith("Vertebral fracture read from")]
    assert f'DiagnosticReport/mri-1 (2026-11-20): "{sentence}"' in text_card["detail"]


def _report_card(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cards if c["summary"].startswith("Vertebral fracture read from")]


def test_optional_report_prefetch_is_fetched_and_its_failure_tolerated(ehr: Any) -> None:
    sentence = "Acute L1 compression fracture with marrow oedema."
    prefetch = ehr.prefetch()
    prefetch["conditions"] = ehr.searchset()  # the fracture is only in the report
    prefetch["diagnosticReports"] = ehr.searchset(
        {
            "resourceType": "DiagnosticReport",
            "id": "mri-1",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-11-20",
            "conclusion": sentence,
        }
    )
    fhir_access = {
        "access_token": "fhir-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "vertebra",
    }
    # without FHIR access, leaving the report keys out is no 412: the plan is made without them
    given = {k: v for k, v in prefetch.items() if k != "diagnosticReports"}
    r = ehr.call(SERVICE, ehr.body("patient-view", given))
    assert r.status_code == 200, r.text
    assert _report_card(r.json()["cards"]) == []
    seen: list[dict[str, str]] = []
    # with FHIR access, the missing report key is fetched: the fracture is read from its text
    with LoopbackServer(fhir_server(prefetch, seen)) as base:
        body = ehr.body("patient-view", given)
        body["fhirServer"] = f"{base}/fhir"
        body["fhirAuthorization"] = fhir_access
        r = ehr.call(SERVICE, body)
    assert r.status_code == 200, r.text
    (card,) = _report_card(r.json()["cards"])
    assert f'DiagnosticReport/mri-1 (2026-11-20): "{sentence}"' in card["detail"]
    # a server that fails on the report search: read without the reports, no 502
    with LoopbackServer(fhir_server(dict(prefetch, diagnosticReports="fail"), seen)) as base:
        body = ehr.body("patient-view", given)
        body["fhirServer"] = f"{base}/fhir"
        body["fhirAuthorization"] = fhir_access
        r = ehr.call(SERVICE, body)
    assert r.status_code == 200, r.text
    assert _report_card(r.json()["cards"]) == []
