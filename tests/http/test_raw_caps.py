"""/api/plan counts a body's resources in the raw bytes and refuses more than
VERTEBRA_MAX_BUNDLE_RESOURCES (besides the top-level one, contained resources included) with
413 before parsing it."""

from __future__ import annotations

import json
from typing import Any

from vertebra.http.limits import raw_resource_count

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
HEADERS = {"Content-Type": "application/json"}


def _bundle(resources: int, *, contained: int = 0, text: str = "") -> dict[str, Any]:
    """A Bundle of ``resources`` entries: a Patient, a fracture and other Conditions."""
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1944-01-01"}
    conditions = []
    for i in range(resources - 1):
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"c{i}",
            "subject": {"reference": "Patient/p"},
            "onsetDateTime": "2026-11-10",
            "code": {
                "coding": [{"system": ICD, "code": "S32.010A" if i == 0 else "J45.909"}],
                "text": text,
            },
        }
        if i < contained:
            condition["contained"] = [{"resourceType": "Practitioner", "id": f"d{i}"}]
        conditions.append(condition)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in [patient, *conditions]],
    }


def test_a_bundle_exactly_at_the_cap_is_planned(make_client: Any) -> None:
    client = make_client(max_bundle_resources=40)
    body = json.dumps(_bundle(40)).encode()
    assert raw_resource_count(body) == 40
    r = client.post("/api/plan", content=body, headers=HEADERS)
    assert r.status_code == 200, r.text


def test_one_resource_over_the_cap_is_413_naming_the_limit(make_client: Any) -> None:
    client = make_client(max_bundle_resources=40)
    r = client.post("/api/plan", content=json.dumps(_bundle(41)).encode(), headers=HEADERS)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "too_many_resources"
    assert "VERTEBRA_MAX_BUNDLE_RESOURCES" in r.json()["message"]
    assert r.json()["errors"][0]["field"] == "entry"


def test_over_the_cap_is_refused_before_the_body_is_parsed(make_client: Any) -> None:
    """Not valid JSON and over the cap: 413 (the count comes first, as the body-size limit
    does), not the 422 a parse would give - so no parse was made."""
    client = make_client(max_bundle_resources=40)
    body = json.dumps(_bundle(41)).encode()[:-1] + b",,"  # broken JSON at the very end
    r = client.post("/api/plan", content=body, headers=HEADERS)
    assert r.status_code == 413, r.text
    assert "VERTEBRA_MAX_BUNDLE_RESOURCES" in r.json()["message"]
    # within the cap, the same broken body is a 422 naming the body
    small = json.dumps(_bundle(5)).encode()[:-1] + b",,"
    assert client.post("/api/plan", content=small, headers=HEADERS).status_code == 422


def test_contained_resources_count(make_client: Any) -> None:
    client = make_client(max_bundle_resources=40)
    body = json.dumps(_bundle(30, contained=11)).encode()  # 30 entries + 11 contained = 41
    assert raw_resource_count(body) == 41
    r = client.post("/api/plan", content=body, headers=HEADERS)
    assert r.status_code == 413, r.text
    body = json.dumps(_bundle(30, contained=10)).encode()
    assert client.post("/api/plan", content=body, headers=HEADERS).status_code == 200


def test_the_word_in_string_values_does_not_count(make_client: Any) -> None:
    """Text holding "resourceType" (escaped quotes, as a key in quoted JSON, or a whole value)
    is not a resource: a Bundle at the cap with such text everywhere is planned."""
    client = make_client(max_bundle_resources=40)
    text = 'pasted: {"resourceType": "Condition"} and "resourceType'  # raw: \\"resourceType"
    bundle = _bundle(40, text=text)
    for i, entry in enumerate(bundle["entry"]):
        if i % 2:
            entry["resource"]["code"]["text"] = "resourceType"  # a whole value
    bundle["entry"][0]["resource"]["note"] = [{"text": "resourceType"}]
    bundle["meta"] = {
        "tag": [{"code": "resourceType", "display": "\\"}],
        'a key ending in "resourceType': 1,  # raw: "a key ending in \\"resourceType":
    }
    body = json.dumps(bundle).encode()
    assert body.count(b'"resourceType"') > 80  # the fast count alone would refuse it
    assert raw_resource_count(body) == 40
    r = client.post("/api/plan", content=body, headers=HEADERS)
    assert r.status_code == 200, r.text


def test_patient_facts_are_not_counted(make_client: Any) -> None:
    client = make_client(max_bundle_resources=1)
    facts = {"age": 80, "sex": "female", "fracture_levels": ["L1"]}
    assert client.post("/api/plan", json=facts).status_code == 200
