"""CLI input: patient facts JSON or a FHIR R4 Bundle, from a file or standard input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from vertebra.cli._app import InvalidInput
from vertebra.facts import FactsError, PatientFacts, parse_facts


def read_json(source: str) -> Any:
    """Parse JSON from a path or ``-`` (stdin); bad input raises :class:`InvalidInput`."""
    if source == "-":
        text = sys.stdin.read()
        name = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"{source}: no such file")
        text = path.read_text(encoding="utf-8")
        name = source
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name}: not valid JSON: {exc}") from None


def facts_from(data: Any) -> PatientFacts:
    """Patient facts from facts JSON or a FHIR R4 resource/Bundle."""
    return facts_and_evidence(data)[0]


def facts_and_evidence(data: Any) -> tuple[PatientFacts, list[Any]]:
    """Patient facts, and the facts read from report text (FHIR input only)."""
    try:
        if isinstance(data, dict) and "resourceType" in data:
            from vertebra.fhir import to_facts

            mapped = to_facts(data)
            return mapped.facts, list(mapped.text_evidence)
        return parse_facts(data), []
    except FactsError as exc:
        raise InvalidInput("invalid patient facts: " + str(exc)) from None
