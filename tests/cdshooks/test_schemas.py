"""Responses validated against schemas (issue 14): CDS Hooks 2.0.1 (tests/schemas, written from
the specification) and the official FHIR R4 JSON schema for every emitted resource, which also
carries a narrative (dom-6)."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tests.conftest import EXAMPLES
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.fhir import plan_to_fhir

SCHEMAS = Path(__file__).parent.parent / "schemas"
SERVICE = "vertebra-patient-view"


@cache
def _fhir_definitions() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        gzip.decompress((SCHEMAS / "fhir.schema.json.gz").read_bytes())
    )
    return schema


@cache
def _fhir_validator(resource_type: str) -> Any:
    schema = _fhir_definitions()
    return jsonschema_rs.Draft6Validator(
        {"$ref": f"#/definitions/{resource_type}", "definitions": schema["definitions"]}
    )


def fhir_errors(resource: dict[str, Any]) -> list[str]:
    validator = _fhir_validator(str(resource["resourceType"]))
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in validator.iter_errors(resource)
    ]
    if not (
        isinstance(resource.get("text"), dict)
        and resource["text"].get("div", "").startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    ):
        errors.append("dom-6: no narrative (text.div)")
    return errors


@cache
def _cds_validator(definition: str) -> Any:
    schema = json.loads((SCHEMAS / "cds-hooks-2.0.1.schema.json").read_text(encoding="utf-8"))
    return jsonschema_rs.Draft7Validator(
        {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    )


def cds_errors(definition: str, body: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in _cds_validator(definition).iter_errors(body)
    ]


def test_the_schemas_catch_what_they_should() -> None:
    """The validators are not vacuous."""
    assert fhir_errors(
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "x",
            "subject": {"reference": "Patient/1"},
            "bogus": 1,
        }
    )
    card = {
        "summary": "s",
        "indicator": "info",
        "source": {"label": "l"},
        "suggestions": [
            {
                "label": "x",
                "actions": [
                    {"type": "delete", "description": "d", "resourceId": ["MedicationRequest/1"]}
                ],
            }
        ],
        "selectionBehavior": "at-most-one",
    }
    assert cds_errors("Card", card)  # resourceId as an array (the old bug)
    assert cds_errors("Card", {"summary": "x" * 140, "indicator": "info", "source": {"label": "l"}})


def test_patient_view_response_and_its_resources_validate(ehr: Any) -> None:
    r = ehr.call(SERVICE, ehr.body("patient-view", ehr.prefetch(observations=[ehr.egfr(25)])))
    assert r.status_code == 200
    body = r.json()
    assert cds_errors("CardsResponse", body) == []
    resources = [
        a["resource"]
        for c in body["cards"]
        for s in c.get("suggestions", [])
        for a in s["actions"]
        if "resource" in a
    ]
    assert resources
    for resource in resources:
        assert fhir_errors(resource) == [], resource["id"]


def test_order_sign_response_validates(ehr: Any) -> None:
    order = ehr.order("m1", "Naproxen sodium 220 MG Oral Tablet", "849574")
    drafts = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    body = ehr.body("order-sign", ehr.prefetch(observations=[ehr.egfr(25)]), draftOrders=drafts)
    r = ehr.call("vertebra-order-sign", body)
    assert r.status_code == 200
    assert any(c.get("suggestions") for c in r.json()["cards"])
    assert cds_errors("CardsResponse", r.json()) == []


def test_discovery_validates(ehr: Any) -> None:
    assert cds_errors("Discovery", ehr.client.get("/cds-services").json()) == []


@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.json")))
def test_plan_as_fhir_validates_against_the_r4_schema(example: str) -> None:
    facts = parse_facts(json.loads((EXAMPLES / f"{example}.json").read_text(encoding="utf-8")))
    group = plan_to_fhir(plan(facts), patient_ref="Patient/p1")
    assert fhir_errors(group) == []
    for resource in group.get("contained", []):
        assert fhir_errors(resource) == [], resource["id"]
