"""CLI input: patient facts JSON or a FHIR R4 Bundle, from a file or standard input, read through
the one intake (:mod:`vertebra.intake`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from vertebra.errors import BODY, InputError
from vertebra.facts import PatientFacts
from vertebra.intake import load_json, read_patient


def read_json(source: str) -> Any:
    """Parse JSON from a path or ``-`` (stdin); bad input raises :class:`InputError`."""
    if source == "-":
        return load_json(sys.stdin.buffer.read(), "standard input")
    path = Path(source)
    if not path.is_file():
        raise InputError.one(BODY, f"{source}: no such file", "file_not_found")
    return load_json(path.read_bytes(), source)


def facts_from(data: Any) -> PatientFacts:
    """Patient facts from facts JSON or a FHIR R4 resource/Bundle (raises ``FactsError``)."""
    return read_patient(data).facts


def facts_and_evidence(data: Any) -> tuple[PatientFacts, list[Any]]:
    """Patient facts, and the facts read from report text (FHIR input only)."""
    patient = read_patient(data)
    return patient.facts, list(patient.text_evidence)
