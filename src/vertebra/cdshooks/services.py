"""The CDS Services vertebra offers, as published by the discovery endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PATIENT_VIEW = "vertebra-patient-view"
ORDER_SELECT = "vertebra-order-select"
ORDER_SIGN = "vertebra-order-sign"

#: Prefetch templates: everything the FHIR mapping reads for one patient.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    # report text (radiology reports and documents with inline text): a vertebral fracture
    # described but never coded is read from it (vertebra.fhir.report_text)
    "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
    "documentReferences": "DocumentReference?patient={{context.patientId}}",
}
#: Keys a CDS Client may leave out even without FHIR access, and whose fetch may fail: the plan is
#: made without them (what they would add, such as the date of the last denosumab injection or a
#: fracture described only in a report, stays unknown).
OPTIONAL_PREFETCH: frozenset[str] = frozenset(
    {"medicationAdministrations", "diagnosticReports", "documentReferences"}
)


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    required_context: tuple[str, ...]

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(PREFETCH),
            "usageRequirements": (
                "Patient facts are read from the prefetch (or fetched from fhirServer with "
                "fhirAuthorization). Every call needs a JWT signed by a trusted issuer."
            ),
        }


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            id=PATIENT_VIEW,
            hook="patient-view",
            title="Vertebral compression fracture plan",
            description=(
                "For a patient with an osteoporotic vertebral compression fracture: the cited "
                "management plan as cards - urgent referrals first, orders as suggestions."
            ),
            required_context=("patientId",),
        ),
        Service(
            id=ORDER_SELECT,
            hook="order-select",
            title="Vertebral fracture plan: order check",
            description=(
                "Warns when a selected draft order conflicts with the vertebral fracture plan "
                "(e.g. an NSAID with creatinine clearance < 30 mL/min, an oral bisphosphonate "
                "with an oesophageal disorder, romosozumab after myocardial infarction or stroke)."
            ),
            required_context=("patientId", "selections", "draftOrders"),
        ),
        Service(
            id=ORDER_SIGN,
            hook="order-sign",
            title="Vertebral fracture plan: order check at signing",
            description=(
                "The order check of vertebra-order-select, on every draft order about to be signed."
            ),
            required_context=("patientId", "draftOrders"),
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {"services": [s.discovery() for s in SERVICES.values()]}
