"""Finding resources in Bundles, lists, CDS Hooks prefetch and bulk NDJSON folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vertebra.facts import FactsError
from vertebra.fhir import (
    is_fhir,
    prefetch_to_resources,
    read_ndjson,
    split_by_patient,
    to_facts,
    to_resources,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"resourceType": "Bundle"}, True),
        ({"resourceType": "Patient", "id": "x"}, True),
        ({"age": 70, "sex": "female"}, False),
        ({"resourceType": 3}, False),
        ([], False),
        ("Bundle", False),
        (None, False),
    ],
)
def test_is_fhir(data: Any, expected: bool) -> None:
    assert is_fhir(data) is expected


@pytest.mark.parametrize("kind", ["collection", "searchset", "transaction", "batch", "document"])
def test_any_bundle_type_converts(fx: Any, kind: str) -> None:
    bundle = fx.bundle(fx.patient(), fx.condition((fx.ICD, "S32.040A")), kind=kind)
    assert to_facts(bundle, today=fx.today).facts.fracture_levels == ["L4"]


def test_nested_bundles_and_search_outcomes(fx: Any) -> None:
    inner = fx.bundle(fx.condition((fx.ICD, "S32.040A")), kind="searchset")
    inner["entry"].append(
        {
            "resource": {"resourceType": "OperationOutcome", "issue": []},
            "search": {"mode": "outcome"},
        }
    )
    outer = fx.bundle(fx.patient(), inner)
    outer["entry"].append({"request": {"method": "DELETE", "url": "Condition/9"}})
    types = [r["resourceType"] for r in to_resources(outer)]
    assert types == ["Patient", "Condition"]


def test_urn_uuid_references(fx: Any) -> None:
    patient = fx.patient()
    del patient["id"]
    condition = fx.condition((fx.ICD, "S32.010A"))
    condition["subject"] = {"reference": "urn:uuid:0b6c1e8e-1111-4c4c-8888-000000000001"}
    stranger = fx.condition((fx.ICD, "S32.050A"), rid="c2")
    stranger["subject"] = {"reference": "urn:uuid:0b6c1e8e-1111-4c4c-8888-000000000002"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:0b6c1e8e-1111-4c4c-8888-000000000001", "resource": patient},
            {"fullUrl": "urn:uuid:c1", "resource": condition},
            {"fullUrl": "urn:uuid:c2", "resource": stranger},
        ],
    }
    got = to_facts(bundle, today=fx.today)
    assert got.facts.fracture_levels == ["L1"]
    assert any("another patient" in n for n in got.notes)


@pytest.mark.parametrize(
    "reference",
    ["Patient/p1", "https://ehr.example/fhir/Patient/p1", "Patient/p1/_history/3"],
)
def test_reference_forms(fx: Any, reference: str) -> None:
    condition = fx.condition((fx.ICD, "S32.010A"), subject={"reference": reference})
    assert to_facts([fx.patient(), condition], today=fx.today).facts.fracture_levels == ["L1"]


def test_resource_without_subject_is_read_and_noted(fx: Any) -> None:
    condition = fx.condition((fx.ICD, "S32.010A"))
    del condition["subject"]
    got = to_facts([fx.patient(), condition], today=fx.today)
    assert got.facts.fracture_levels == ["L1"]
    assert any("names no patient" in n for n in got.notes)


def test_cds_hooks_prefetch(fx: Any) -> None:
    prefetch = {
        "patient": fx.patient(),
        "conditions": fx.bundle(fx.condition((fx.ICD, "S22.030A")), kind="searchset"),
        "medications": None,
    }
    assert [r["resourceType"] for r in prefetch_to_resources(prefetch)] == [
        "Condition",
        "Patient",
    ]
    assert to_facts(prefetch, today=fx.today).facts.fracture_levels == ["T3"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([{"resourceType": "Patient"}, {"no": "type"}], "[1]"),
        ({"resourceType": "Bundle", "entry": {"resource": {}}}, "(body).entry"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]},
            "(body).entry[0].resource",
        ),
        ({"patient": 3}, "prefetch.patient"),
    ],
)
def test_not_fhir_is_rejected_naming_the_place(data: Any, field: str) -> None:
    with pytest.raises(FactsError) as exc:
        to_resources(data)
    assert exc.value.errors[0]["field"] == field


def test_split_by_patient(fx: Any) -> None:
    p2 = {**fx.patient(), "id": "p2"}
    c2 = fx.condition((fx.ICD, "S32.010A"), rid="c2", subject={"reference": "Patient/p2"})
    shared_med = {"resourceType": "Medication", "id": "m1"}
    request = {**fx.med_request("0"), "medicationReference": {"reference": "Medication/m1"}}
    del request["medicationCodeableConcept"]
    org = {"resourceType": "Organization", "id": "o1"}
    groups = split_by_patient(
        [fx.patient(), p2, fx.condition((fx.ICD, "S32.020A")), c2, shared_med, request, org]
    )
    assert sorted(groups) == ["p1", "p2"]
    assert [r.get("id") for r in groups["p1"]] == ["p1", "c1", "m1", "m1"]
    assert [r["resourceType"] for r in groups["p1"]] == [
        "Patient",
        "Condition",
        "MedicationRequest",
        "Medication",
    ]
    assert [r["id"] for r in groups["p2"]] == ["p2", "c2"]


def test_read_ndjson(tmp_path: Path, fx: Any) -> None:
    (tmp_path / "Patient.000.ndjson").write_text(json.dumps(fx.patient()) + "\n\n")
    (tmp_path / "Condition.000.ndjson").write_text(
        "\n".join(json.dumps(fx.condition((fx.ICD, c), rid=c)) for c in ("S32.010A", "S22.010A"))
    )
    (tmp_path / "log.ndjson").write_text('{"not": "fhir"}\n')
    (tmp_path / "manifest.json").write_text("{}")
    got = read_ndjson(tmp_path)
    assert [r["id"] for r in got] == ["S32.010A", "S22.010A", "p1"]


def test_read_ndjson_bad_line_names_file_and_line(tmp_path: Path, fx: Any) -> None:
    (tmp_path / "Patient.000.ndjson").write_text(json.dumps(fx.patient()) + "\n{oops\n")
    with pytest.raises(FactsError) as exc:
        read_ndjson(tmp_path)
    assert exc.value.errors[0]["field"] == "Patient.000.ndjson:2"
