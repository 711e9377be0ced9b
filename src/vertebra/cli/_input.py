"""CLI input: patient facts JSON or a FHIR R4 Bundle, from a file or standard input, read through
the one intake (:mod:`vertebra.intake`).

At this boundary, and only here, what a person types is normalised before the facts are
validated against the unchanged contract model: fracture levels in any case (``"l1"`` →
``"L1"``) and sex in any case or as its initial (``"F"`` → ``"female"``). A word the contract
does not know gets a "did you mean" suggestion (difflib) in the error message.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path
from typing import Any

from vertebra.errors import BODY, FieldError, InputError
from vertebra.facts import FACT_NAMES, FactsError, PatientFacts
from vertebra.intake import is_fhir_input, load_json, read_patient

_SEX = {"f": "female", "m": "male", "female": "female", "male": "male"}
_PATH = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def read_json(source: str) -> Any:
    """Parse JSON from a path or ``-`` (stdin); bad input raises :class:`InputError`."""
    if source == "-":
        return load_json(sys.stdin.buffer.read(), "standard input")
    path = Path(source)
    if not path.is_file():
        raise InputError.one(BODY, f"{source}: no such file", "file_not_found")
    return load_json(path.read_bytes(), source)


def normalise(data: Any) -> Any:
    """Case-insensitive fracture levels and sex; everything else is left for validation."""
    if not isinstance(data, dict) or is_fhir_input(data):
        return data
    out = dict(data)
    sex = out.get("sex")
    if isinstance(sex, str) and sex.strip().lower() in _SEX:
        out["sex"] = _SEX[sex.strip().lower()]
    levels = out.get("fracture_levels")
    if isinstance(levels, list):
        out["fracture_levels"] = [v.strip().upper() if isinstance(v, str) else v for v in levels]
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


def with_suggestions(errors: list[FieldError], data: Any) -> list[FieldError]:
    """The validation errors, each naming its field, with "did you mean" where one is close."""
    out: list[FieldError] = []
    for e in errors:
        entry: FieldError = {**e}
        field = e["field"]
        if e["type"] == "extra_forbidden":
            close = suggestion(field.rsplit(".", 1)[-1], FACT_NAMES)
            if close:
                rest = e["message"].removeprefix("unknown field; ")
                entry["message"] = f"unknown field; did you mean '{close}'? {rest}"
        else:
            value = _value_at(data, field)
            allowed = e.get("allowed")
            if isinstance(value, str) and allowed:
                close = suggestion(value.replace("-", "_").replace(" ", "_"), allowed)
                if close:
                    entry["message"] = (
                        f"{value!r} is not allowed; did you mean '{close}'? ({e['message']})"
                    )
        out.append(entry)
    return out


def facts_and_evidence(data: Any) -> tuple[PatientFacts, list[Any]]:
    """Patient facts, and the facts read from report text (FHIR input only); raises
    ``FactsError`` naming every field, with "did you mean" where a word is close."""
    data = normalise(data)
    try:
        patient = read_patient(data)
    except FactsError as exc:
        raise FactsError(with_suggestions(exc.errors, data)) from None
    return patient.facts, list(patient.text_evidence)
