"""Fracture liaison case-finding over FHIR bulk exports (``vertebra screen``)."""
