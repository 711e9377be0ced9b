"""FHIR R4 adapter: patient resources in, the plan out as a RequestGroup.

- :func:`to_facts` — a Bundle (any type), a resource list or CDS Hooks prefetch to
  :class:`FhirFacts` (validated :class:`~vertebra.facts.PatientFacts` + unmapped codes + notes).
- :func:`plan_to_fhir` — a :class:`~vertebra.plan.Plan` to a FHIR R4 RequestGroup whose
  contained ServiceRequests and MedicationRequests are proposals.
- :func:`split_by_patient`, :func:`read_ndjson` — bulk export helpers.
"""

from __future__ import annotations

from vertebra.fhir.codes import UnmappedCode
from vertebra.fhir.inbound import FhirExtraction, FhirFacts, extract_facts, to_facts
from vertebra.fhir.outbound import plan_to_fhir, recommendation_to_resource
from vertebra.fhir.resources import (
    is_fhir,
    prefetch_to_resources,
    read_ndjson,
    split_by_patient,
    to_resources,
)

__all__ = [
    "FhirExtraction",
    "FhirFacts",
    "UnmappedCode",
    "extract_facts",
    "is_fhir",
    "plan_to_fhir",
    "prefetch_to_resources",
    "read_ndjson",
    "recommendation_to_resource",
    "split_by_patient",
    "to_facts",
    "to_resources",
]
