"""Intake: patient facts JSON, a FHIR R4 resource/Bundle, CDS Hooks prefetch or a record →
:class:`~vertebra.facts.PatientFacts`, with one JSON loader and one error type."""

from __future__ import annotations

from vertebra.intake.core import (
    Input,
    Kind,
    check_depth,
    from_record,
    from_resources,
    is_fhir_input,
    load_json,
    read_patient,
    too_deep,
)

__all__ = [
    "Input",
    "Kind",
    "check_depth",
    "from_record",
    "from_resources",
    "is_fhir_input",
    "load_json",
    "read_patient",
    "too_deep",
]
