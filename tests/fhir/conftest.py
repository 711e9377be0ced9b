"""Builders for small FHIR R4 resources used across the FHIR tests."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TODAY = date(2026, 11, 21)
PID = "p1"


class Fhir:
    """Factory of minimal resources for patient ``p1`` (override with keyword arguments)."""

    today = TODAY
    ICD = ICD
    SCT = SCT
    LOINC = LOINC
    RXNORM = RXNORM
    PID = PID

    @staticmethod
    def patient(**extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "id": PID,
            "gender": "female",
            "birthDate": "1950-03-07",
            **extra,
        }

    @staticmethod
    def condition(*codes: tuple[str, str], rid: str = "c1", **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": rid,
            "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": s, "code": c, "display": f"d-{c}"} for s, c in codes]},
            **extra,
        }

    @staticmethod
    def observation(
        system: str,
        code: str,
        value: Any,
        *,
        rid: str = "o1",
        when: str = "2026-11-01",
        unit: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": system, "code": code}]},
            "effectiveDateTime": when,
            **extra,
        }
        if isinstance(value, int) and unit is None:
            res["valueInteger"] = value
        elif value is not None:
            quantity: dict[str, Any] = {"value": value}
            if unit:
                quantity["code"] = unit
            res["valueQuantity"] = quantity
        return res

    @staticmethod
    def med_request(
        code: str,
        *,
        rid: str = "m1",
        status: str = "active",
        authored: str = "2026-01-01",
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": status,
            "intent": "order",
            "subject": {"reference": f"Patient/{PID}"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
            "authoredOn": authored,
            **extra,
        }

    @staticmethod
    def allergy(system: str, code: str, *, rid: str = "a1", **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "AllergyIntolerance",
            "id": rid,
            "patient": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": system, "code": code}]},
            **extra,
        }

    @staticmethod
    def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [{"resource": r} for r in resources],
        }


@pytest.fixture
def fx() -> type[Fhir]:
    return Fhir
