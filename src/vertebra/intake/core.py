"""One intake: patient facts JSON, a FHIR R4 resource/Bundle, CDS Hooks prefetch or a record
→ :class:`~vertebra.facts.PatientFacts`, with one JSON loader and one error type
(:class:`~vertebra.errors.InputError`, raised as :class:`~vertebra.facts.FactsError` for facts).

The CLI (``vertebra plan``), ``POST /api/plan``, the CDS Hooks services, the web form and
``vertebra ask`` all read patients through here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from vertebra.errors import BODY, InputError
from vertebra.facts import PatientFacts, parse_facts, parse_record_facts

Kind = Literal["facts", "fhir"]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: A ``\\uD800``-``\\uDFFF`` escape: half of a UTF-16 surrogate pair (an emoji is two of them).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())


def load_json(data: bytes | str, source: str = "the request body") -> Any:
    """Strict JSON (no NaN/Infinity, no unpaired surrogate escapes) from bytes or text; raises
    :class:`InputError` naming the position. ``source`` names the input in the message (a file
    name, standard input)."""
    if not data.strip():
        raise InputError.one(BODY, f"{source} is empty; send a JSON object", "json_invalid")
    try:
        value = json.loads(data, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise InputError.one(BODY, f"{source} is not UTF-8 text", "json_invalid") from None
    except RecursionError:
        raise InputError.one(BODY, f"{source}: JSON nested too deeply", "too_deep") from None
    except json.JSONDecodeError as exc:
        message = f"{source}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InputError.one(BODY, message, "json_invalid") from None
    except ValueError as exc:
        raise InputError.one(BODY, f"{source}: {exc}", "json_invalid") from None
    escaped = (
        _SURROGATE_ESCAPE_BYTES.search(data)
        if isinstance(data, bytes)
        else _SURROGATE_ESCAPE.search(data)
    )
    if escaped:  # rare: then check that every one is paired (valid Unicode)
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except RecursionError:
            pass  # nested too deeply: the depth limit (VERTEBRA_MAX_JSON_DEPTH) refuses it
        except UnicodeEncodeError:
            message = (
                f"{source}: a string holds an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF "
                "without its pair): not Unicode text"
            )
            raise InputError.one(BODY, message, "json_invalid") from None
    return value


def too_deep(data: Any, limit: int) -> str | None:
    """The path of the first value nested deeper than ``limit`` levels (None when within it).

    Iterative, so it cannot itself overflow the stack; checked before anything recursive (the
    FHIR mapping, the facts model) walks the input. A walk that builds no paths answers first
    (a 1,900-Condition Bundle: ~3x faster); the paths are built only for input too deep."""
    if not _deeper_than(data, limit):
        return None
    return _first_too_deep(data, limit)


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether a list or object sits deeper than ``limit`` levels, level by level."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, dict | list)
        ]
        depth += 1
    return False


def _first_too_deep(data: Any, limit: int) -> str | None:
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict):
            items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth > limit:
            return path or BODY
        for sub, child in items:
            if isinstance(child, dict | list):
                stack.append((child, sub, depth + 1))
    return None


def check_depth(data: Any, limit: int, prefix: str = "") -> None:
    """Raise :class:`InputError` (HTTP 422) naming the first value nested deeper than ``limit``
    levels (``VERTEBRA_MAX_JSON_DEPTH``); ``prefix`` is the path of ``data`` in the input."""
    path = too_deep(data, limit)
    if path is not None:
        field_name = f"{prefix}.{path}".strip(".") if prefix else path
        message = f"nested deeper than {limit} levels (VERTEBRA_MAX_JSON_DEPTH)"
        raise InputError.one(field_name, message, "too_deep")


@dataclass(frozen=True)
class Input:
    """Validated patient input: the facts, and where they came from."""

    facts: PatientFacts
    kind: Kind
    notes: list[str] = field(default_factory=list)
    #: Facts read from report text (``plan.TextEvidence``): the plan quotes them.
    text_evidence: list[Any] = field(default_factory=list)


def is_fhir_input(data: Any) -> bool:
    """Whether :func:`read_patient` reads ``data`` as FHIR (a JSON object with a
    ``resourceType``) rather than as patient facts."""
    return isinstance(data, dict) and "resourceType" in data


def read_patient(data: Any) -> Input:
    """Patient facts or a FHIR R4 resource/Bundle → facts; raises
    :class:`~vertebra.facts.FactsError` naming every offending field."""
    if is_fhir_input(data):
        from vertebra import fhir  # on first use: `vertebra plan FACTS.json` starts without it

        mapped = fhir.to_facts(data)
        return Input(
            facts=mapped.facts,
            kind="fhir",
            notes=list(mapped.notes),
            text_evidence=list(mapped.text_evidence),
        )
    return Input(facts=parse_facts(data), kind="facts")


def from_resources(resources: list[dict[str, Any]]) -> Input:
    """Facts from FHIR resources (e.g. CDS Hooks prefetch, see
    :func:`vertebra.fhir.prefetch_to_resources`), with the facts read from report text;
    raises :class:`~vertebra.facts.FactsError`."""
    from vertebra import fhir

    mapped = fhir.to_facts(resources)
    return Input(
        facts=mapped.facts,
        kind="fhir",
        notes=list(mapped.notes),
        text_evidence=list(mapped.text_evidence),
    )


def from_record(data: dict[str, Any]) -> PatientFacts:
    """Facts read from a record (the fracture level may be unknown, see
    :class:`~vertebra.facts.RecordFacts`); raises :class:`~vertebra.facts.FactsError`."""
    return parse_record_facts(data)
