"""POST /api/plan through the real ASGI app: the same plan as the CLI, one error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.http.conftest import FACTS
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.fhir import to_facts
from vertebra.http.testing import ASGIClient

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "Patient",
                "id": "p1",
                "gender": "female",
                "birthDate": "1948-05-02",
                "name": [{"family": "Quackenbush", "given": ["Zelda"]}],
            }
        },
        {
            "resource": {
                "resourceType": "Condition",
                "id": "c1",
                "subject": {"reference": "Patient/p1"},
                "onsetDateTime": "2026-11-01",
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "S32.010A"}]
                },
            }
        },
    ],
}


def audit_count(client: ASGIClient) -> int:
    return len(client.app.state.vertebra.store.events(limit=1000))


def test_plan_is_byte_identical_to_the_core(client: ASGIClient) -> None:
    r = client.post("/api/plan", json=FACTS)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.text == plan(parse_facts(FACTS)).to_json()
    body = r.json()
    assert body["pathway"] in (
        "stable",
        "potentially_unstable",
        "pathological_suspected",
        "out_of_scope",
    )
    assert all(rec["citations"] for rec in body["recommendations"])


def test_fhir_bundle_is_planned_like_the_cli(client: ASGIClient) -> None:
    r = client.post("/api/plan", json=BUNDLE)
    assert r.status_code == 200, r.text
    assert r.text == plan(to_facts(BUNDLE).facts).to_json()
    assert client.app.state.vertebra.store.events()[0].input_kind == "fhir"


def test_every_offending_field_is_named(client: ASGIClient) -> None:
    bad = {
        "age": 12,
        "sex": "other",
        "fracture_levels": ["L1", "L1", "X9"],
        "colour": "red",
        "conditions": ["gout"],
    }
    r = client.post("/api/plan", json=bad)
    assert r.status_code == 422
    body = r.json()
    assert set(body) == {"error", "message", "errors"}
    assert body["error"] == "invalid_input"
    fields = {e["field"] for e in body["errors"]}
    assert {"age", "sex", "fracture_levels[2]", "colour", "conditions[0]"} <= fields
    sex = next(e for e in body["errors"] if e["field"] == "sex")
    assert sex["allowed"] == ["female", "male"]
    cond = next(e for e in body["errors"] if e["field"] == "conditions[0]")
    assert "oesophageal_disorder" in cond["allowed"]
    for name in ("age", "sex", "colour"):
        assert name in body["message"]


def test_missing_required_fields_are_named(client: ASGIClient) -> None:
    r = client.post("/api/plan", json={})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"age", "sex", "fracture_levels"}


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[1, 2]", b'"text"', b'{"age": NaN}', b"\xff\xfe", b"null"],
)
def test_non_object_bodies_are_422_with_the_same_shape(client: ASGIClient, body: bytes) -> None:
    r = client.post("/api/plan", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    payload = r.json()
    assert payload["error"] == "invalid_input"
    assert payload["errors"][0]["field"] == "(body)"


def test_fhir_bundle_without_a_fracture_names_the_field(client: ASGIClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": BUNDLE["entry"][:1]}
    r = client.post("/api/plan", json=bundle)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["fracture_levels"]


def test_nothing_is_half_processed(client: ASGIClient) -> None:
    assert client.post("/api/plan", json=FACTS).status_code == 200
    assert audit_count(client) == 1
    assert client.post("/api/plan", json=dict(FACTS, age=500)).status_code == 422
    assert client.post("/api/plan", content=b"{").status_code == 422
    assert audit_count(client) == 1


def test_oversized_bodies_are_refused(make_client: Any) -> None:
    client = make_client(max_body_bytes=2048)
    big = dict(FACTS, padding="x" * 5000)
    r = client.post("/api/plan", json=big)
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"

    async def chunks() -> Any:  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b" " * 1024

    r = client.post("/api/plan", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"
    assert audit_count(client) == 0


def test_audit_record_hashes_the_input_and_keeps_no_facts_by_default(client: ASGIClient) -> None:
    client.post("/api/plan", json=FACTS)
    (event,) = client.app.state.vertebra.store.events()
    expected = plan(parse_facts(FACTS))
    assert event.hook == "api.plan"
    assert event.caller == "api"
    assert event.input_hash.startswith("sha256:") and len(event.input_hash) == 7 + 64
    assert event.input_facts is None
    assert event.knowledge_version == expected.knowledge_version
    assert event.recommendation_ids == [r.id for r in expected.recommendations]
    # Same input, same hash, whatever the key order.
    client.post("/api/plan", content=json.dumps(dict(reversed(list(FACTS.items())))))
    events = client.app.state.vertebra.store.events()
    assert events[0].input_hash == events[1].input_hash


def test_audit_keeps_raw_facts_and_keyed_hashes_when_configured(make_client: Any) -> None:
    client = make_client(audit_store_facts=True, audit_hash_key="s3cret")
    client.post("/api/plan", json=FACTS)
    (event,) = client.app.state.vertebra.store.events()
    assert event.input_hash.startswith("hmac-sha256:")
    assert event.input_facts == parse_facts(FACTS).model_dump(mode="json", exclude_none=True)


def test_logs_carry_no_patient_data(client: ASGIClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"):
        assert client.post("/api/plan", json=BUNDLE).status_code == 200
        client.post("/api/plan", json=dict(BUNDLE, entry=BUNDLE["entry"][:1]))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Quackenbush" not in text and "Zelda" not in text and "1948" not in text


def test_report_only_bundle_plan_quotes_the_report(client: ASGIClient) -> None:
    sentence = "Acute L1 compression fracture with marrow oedema."
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "gender": "female",
                    "birthDate": "1946-02-14",
                }
            },
            {
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "id": "mri-1",
                    "status": "final",
                    "subject": {"reference": "Patient/p1"},
                    "effectiveDateTime": "2026-11-20",
                    "conclusion": sentence,
                }
            },
        ],
    }
    r = client.post("/api/plan", json=bundle)
    assert r.status_code == 200, r.text
    (ev,) = r.json()["facts_from_text"]
    assert ev["resource"] == "DiagnosticReport/mri-1" and ev["sentence"] == sentence
    assert ev["levels"] == ["L1"] and ev["acuity"] == "acute"
