"""CLI input: patient facts JSON or a FHIR R4 Bundle, from a file or standard input.

At this boundary, and only here, what a person types is normalised before the facts are
validated against the unchanged contract model: fracture levels in any case (``"l1"`` →
``"L1"``) and sex in any case or as its initial (``"F"`` → ``"female"``). A word the contract
does not know gets a "did you mean" suggestion (difflib) in the error message.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

from vertebra.cli._app import InvalidInput
from vertebra.facts import FACT_NAMES, FactsError, PatientFacts, parse_facts

_SEX = {"f": "female", "m": "male", "female": "female", "male": "male"}
_PATH = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


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


def normalise(data: Any) -> Any:
    """Case-insensitive fracture levels and sex; everything else is left for validation."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    sex = out.get("sex")
    if isinstance(sex, str) and sex.strip().lower() in _SEX:
        out["sex"] = _SEX[sex.strip().lower()]
    levels = out.get("fracture_levels")
    if isinstance(levels, list):
        out["fracture_levels"] = [
            v.strip().upper() if isinstance(v, str) else v for v in levels
        ]
    return out


def _value_at(data: Any, path: str) -> Any:
    value = data
    for name, index in _PATH.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value


def suggestion(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest allowed word to ``word`` (difflib), or None."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def explain(exc: FactsError, data: Any) -> str:
    """The validation errors, each naming its field, with "did you mean" where one is close."""
    parts: list[str] = []
    for e in exc.errors:
        field = str(e["field"])
        if e.get("type") == "extra_forbidden":
            name = field.rsplit(".", 1)[-1]
            close = suggestion(name, FACT_NAMES)
            hint = f"did you mean '{close}'? " if close else ""
            parts.append(f"{field}: unknown field; {hint}allowed fields: {', '.join(FACT_NAMES)}")
            continue
        message = str(e["message"])
        value = _value_at(data, field)
        allowed = e.get("allowed")
        if isinstance(value, str) and allowed:
            close = suggestion(value.replace("-", "_").replace(" ", "_"), allowed)
            if close:
                message = f"{value!r} is not allowed; did you mean '{close}'? ({message})"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def facts_from(data: Any) -> PatientFacts:
    """Patient facts from facts JSON or a FHIR R4 resource/Bundle."""
    try:
        if isinstance(data, dict) and "resourceType" in data:
            from vertebra.fhir import to_facts

            return to_facts(data).facts
        data = normalise(data)
        return parse_facts(data)
    except FactsError as exc:
        raise InvalidInput("invalid patient facts: " + explain(exc, data)) from None
