"""A signed EHR, the app under test, FHIR builders for CDS Hooks requests, and a FHIR server to
run on loopback (:func:`fhir_app`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from vertebra.cdshooks.services import PREFETCH
from vertebra.http import create_app
from vertebra.http.testing import ASGIClient
from vertebra.security.devkeys import EhrSigner
from vertebra.settings import Settings

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
BASE = "http://testserver/cds-services"


class Ehr:
    """Builds signed hook calls for patient ``p1``."""

    def __init__(self, client: ASGIClient, signer: EhrSigner) -> None:
        self.client = client
        self.signer = signer

    @staticmethod
    def patient() -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "id": "p1",
            "gender": "female",
            "birthDate": "1946-02-14",
            "name": [{"family": "Quackenbush", "given": ["Zelda"]}],
        }

    @staticmethod
    def condition(code: str, rid: str, onset: str = "2026-11-10") -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": rid,
            "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "onsetDateTime": onset,
            "code": {"coding": [{"system": ICD, "code": code}]},
        }

    @staticmethod
    def egfr(value: float) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": "egfr1",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": "33914-3"}]},
            "effectiveDateTime": "2026-11-12",
            "valueQuantity": {
                "value": value,
                "unit": "mL/min/{1.73_m2}",
                "code": "mL/min/{1.73_m2}",
            },
        }

    @staticmethod
    def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources],
        }

    def prefetch(
        self,
        conditions: list[dict[str, Any]] | None = None,
        observations: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        fracture = self.condition("S32.010A", "fx1")
        return {
            "patient": self.patient(),
            "conditions": self.searchset(fracture, *(conditions or [])),
            "observations": self.searchset(*(observations or [])),
            "medicationRequests": self.searchset(),
            "medicationStatements": None,
            "allergies": self.searchset(),
        }

    @staticmethod
    def order(rid: str, text: str, code: str | None = None) -> dict[str, Any]:
        concept: dict[str, Any] = {"text": text}
        if code:
            concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": concept,
        }

    def body(self, hook: str, prefetch: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "hook": hook,
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/dr1", "patientId": "p1", **context},
        }
        if prefetch is not None:
            body["prefetch"] = prefetch
        return body

    def call(self, service: str, body: dict[str, Any] | str, *, token: bool = True) -> Any:
        """POST a hook call; ``body`` as JSON, or a JSON text sent as it is (for bodies that
        ``json=`` cannot write: deep nesting, unpaired surrogate escapes)."""
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {self.signer.token(f'{BASE}/{service}')}"
        url = f"/cds-services/{service}"
        if isinstance(body, str):
            headers["Content-Type"] = "application/json"
            return self.client.post(url, content=body.encode(), headers=headers)
        return self.client.post(url, json=body, headers=headers)

    def feedback(self, service: str, items: list[dict[str, Any]]) -> Any:
        url = f"{BASE}/{service}/feedback"
        headers = {"Authorization": f"Bearer {self.signer.token(url)}"}
        return self.client.post(
            f"/cds-services/{service}/feedback", json={"feedback": items}, headers=headers
        )


@pytest.fixture(scope="session")
def signer() -> EhrSigner:
    return EhrSigner(iss="https://ehr.example.org", alg="ES384")


@pytest.fixture
def make_ehr(tmp_path: Path, signer: EhrSigner) -> Iterator[Any]:
    made: list[ASGIClient] = []

    def make(**settings: Any) -> Ehr:
        settings.setdefault("database_url", f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        settings.setdefault("trusted_issuers", [signer.issuer()])
        settings.setdefault("public_base_url", "http://testserver")
        client = ASGIClient(create_app(Settings(**settings)))
        made.append(client)
        return Ehr(client, signer)

    yield make
    for client in made:
        client.app.state.vertebra.close()


@pytest.fixture
def ehr(make_ehr: Any) -> Ehr:
    e: Ehr = make_ehr()
    return e


KEY_OF = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medicationRequests",
    "MedicationStatement": "medicationStatements",
    "AllergyIntolerance": "allergies",
    "MedicationAdministration": "medicationAdministrations",
    "DiagnosticReport": "diagnosticReports",
    "DocumentReference": "documentReferences",
}
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "forbidden"}],
}


def fhir_app(
    prefetch: dict[str, Any],
    seen: list[dict[str, str]],
    *,
    token: str | None = None,
    fail: int | None = None,
    missing: int | None = None,
) -> FastAPI:
    """A FHIR server (run it with ``LoopbackServer``) answering the prefetch queries for patient
    ``p1`` from ``prefetch``; ``seen`` gets each request's headers. ``token``: the bearer token
    it requires (401 otherwise; fhirAuthorization is optional in CDS Hooks). ``fail``: every
    search answers this status with an OperationOutcome. A prefetch key set to ``"fail"``
    answers 500; an absent key answers ``missing`` (a server without that resource type), or an
    empty searchset."""
    app = FastAPI()

    def received(request: Request) -> None:
        seen.append(dict(request.headers))
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            raise HTTPException(401)

    @app.get("/fhir/Patient/{pid}")
    def patient(pid: str, request: Request) -> Any:
        received(request)
        return prefetch["patient"]

    @app.get("/fhir/{rtype}")
    def search(rtype: str, patient: str, request: Request) -> Any:
        received(request)
        assert patient == "p1"
        key = KEY_OF[rtype]
        if fail is not None:
            return JSONResponse(OUTCOME, status_code=fail)
        if key not in prefetch and missing is not None:
            raise HTTPException(missing)
        if prefetch.get(key) == "fail":
            raise HTTPException(500)
        return prefetch.get(key) or {"resourceType": "Bundle", "type": "searchset", "entry": []}

    return app


__all__ = ["KEY_OF", "OUTCOME", "PREFETCH", "Ehr", "fhir_app"]
