"""Intake: patient facts JSON, a FHIR R4 resource/Bundle or a record → :class:`PatientFacts`."""
