"""Real data: the Synthea bulk export (13 Patient records) through FHIR → facts → plan → FHIR."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.requestgroup import RequestGroup

from tests.conftest import shared
from vertebra import terminology
from vertebra.engine import plan
from vertebra.facts import FactsError
from vertebra.fhir import extract_facts, plan_to_fhir, read_ndjson, split_by_patient, to_facts
from vertebra.fhir.codes import codings
from vertebra.fhir.inbound import CONDITION_SETS

TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def data() -> Path:
    """The Synthea sample in the shared folder (a CI failure when absent, see tests/conftest)."""
    return shared("data/synthea-bulk-10")


@pytest.fixture(scope="module")
def groups(data: Path) -> dict[str, list[dict[str, Any]]]:
    return split_by_patient(read_ndjson(data))


def _fracture_patients(groups: dict[str, list[dict[str, Any]]]) -> list[str]:
    vertebral = terminology.load("vertebral-fracture")
    return sorted(
        pid
        for pid, items in groups.items()
        for r in items
        if r["resourceType"] == "Condition"
        and any(vertebral.find(c.system, c.code) for c in codings(r.get("code")))
    )


def test_every_patient_record_is_grouped(
    data: Path, groups: dict[str, list[dict[str, Any]]]
) -> None:
    patients = [r for r in read_ndjson(data) if r["resourceType"] == "Patient"]
    assert sorted(groups) == sorted(p["id"] for p in patients)
    assert all(items[0]["resourceType"] == "Patient" for items in groups.values())


def test_every_patient_converts_or_names_the_missing_field(
    groups: dict[str, list[dict[str, Any]]],
) -> None:
    with_fracture = set(_fracture_patients(groups))
    for pid, items in groups.items():
        extraction = extract_facts(items, today=TODAY)  # never raises for real data
        assert extraction.patient_id == pid
        assert {"age", "sex"} <= set(extraction.values)
        if pid in with_fracture:
            continue
        with pytest.raises(FactsError) as exc:
            to_facts(items, today=TODAY)
        assert [e["field"] for e in exc.value.errors] == ["fracture_levels"]
        assert "no vertebral fracture" in exc.value.errors[0]["message"]


def test_unknown_condition_codes_are_all_reported(
    groups: dict[str, list[dict[str, Any]]],
) -> None:
    for pid, items in groups.items():
        expected = {
            (r["id"], c.code)
            for r in items
            if r["resourceType"] == "Condition"
            for c in codings(r.get("code"))
            if not any(terminology.load(v).find(c.system, c.code) for v in CONDITION_SETS)
        }
        got = {
            (u.resource_id, u.code)
            for u in extract_facts(items, today=TODAY).unmapped
            if u.resource_type == "Condition"
        }
        assert expected <= got, pid


def test_osteoporotic_fracture_patient_gets_a_bone_health_plan(
    groups: dict[str, list[dict[str, Any]]],
) -> None:
    (pid,) = _fracture_patients(groups)
    items = groups[pid]
    unknown_level = to_facts(items, today=TODAY)
    assert unknown_level.facts.fracture_levels is None
    assert any("443165006" in n for n in unknown_level.notes)
    first = plan(unknown_level.facts)
    assert any(r.category == "bone_health" and r.action == "do" for r in first.recommendations)
    assert "fracture_levels" in {m.field for m in first.missing_information}
    assert first.recommendations[0].id == "assess-confirm-fracture-level" or any(
        r.id == "assess-confirm-fracture-level" for r in first.recommendations
    )

    got = to_facts(items, today=TODAY, default_level="T12")
    assert got.assumed_levels == ["T12"]
    assert got.facts.mechanism == "low_energy"
    assert got.facts.osteoporosis_drug == "alendronate"  # active Synthea MedicationRequest
    assert got.facts.years_on_osteoporosis_drug is not None
    assert got.facts.years_on_osteoporosis_drug > 5

    result = plan(got.facts)
    bone = [r for r in result.recommendations if r.category == "bone_health"]
    assert bone, "a bone-health plan is expected"

    group = plan_to_fhir(result, patient_ref=f"Patient/{pid}")
    RequestGroup.model_validate(group)
    kinds = {r["resourceType"] for r in group["contained"]}
    assert kinds == {"ServiceRequest", "MedicationRequest"}
    assert len(group["action"]) == len(result.recommendations)
    assert all(a["documentation"] for a in group["action"])


@pytest.mark.parametrize("level", ["T4", "L3"])
def test_plans_for_all_patients_with_an_assumed_level_validate(
    groups: dict[str, list[dict[str, Any]]], level: Any
) -> None:
    planned = 0
    for pid, items in groups.items():
        try:
            got = to_facts(items, today=TODAY, default_level=level)
        except FactsError:
            continue
        group = plan_to_fhir(plan(got.facts), patient_ref=f"Patient/{pid}")
        RequestGroup.model_validate(group)
        planned += 1
    assert planned == len(_fracture_patients(groups))
