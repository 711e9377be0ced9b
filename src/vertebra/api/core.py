"""What every adapter shares: read input (facts or FHIR), plan, hash, audit.

The API, the CDS Hooks services and the CLI all end in :func:`vertebra.engine.plan`; this
module only turns HTTP input into :class:`~vertebra.facts.PatientFacts` the same way the CLI
does and records the call in the audit store.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from vertebra.facts import FactsError, PatientFacts, parse_facts
from vertebra.plan import Plan
from vertebra.settings import Settings

log = logging.getLogger("vertebra.api")


class JsonError(ValueError):
    """The body is not JSON; ``errors`` uses the facts error shape."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errors = [{"field": "(body)", "message": message, "type": "json_invalid"}]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity); raises :class:`JsonError` naming the position."""
    if not body.strip():
        raise JsonError("the request body is empty; send a JSON object")
    try:
        return json.loads(body, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise JsonError("the request body is not UTF-8 text") from None
    except RecursionError:
        raise JsonError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise JsonError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise JsonError(str(exc)) from None


def fhir_module() -> ModuleType | None:
    """:mod:`vertebra.fhir` when it is installed with its mapping, else None."""
    try:
        module = importlib.import_module("vertebra.fhir")
    except ImportError:
        return None
    return module if hasattr(module, "to_facts") and hasattr(module, "is_fhir") else None


@dataclass(frozen=True)
class Input:
    """Validated patient input: the facts, and where they came from."""

    facts: PatientFacts
    kind: str  # "facts" or "fhir"
    notes: list[str] = field(default_factory=list)


def read_patient(data: Any) -> Input:
    """Patient facts or a FHIR R4 resource/Bundle → facts; raises :class:`FactsError`."""
    fhir = fhir_module()
    if fhir is not None and fhir.is_fhir(data):
        mapped = fhir.to_facts(data)
        facts = mapped.facts
        if not isinstance(facts, PatientFacts):
            facts = parse_facts(facts)
        return Input(facts=facts, kind="fhir", notes=[str(n) for n in getattr(mapped, "notes", [])])
    if isinstance(data, dict) and "resourceType" in data:
        raise FactsError(
            [
                {
                    "field": "resourceType",
                    "message": "FHIR input needs vertebra.fhir, which is not installed",
                    "type": "fhir",
                }
            ]
        )
    return Input(facts=parse_facts(data), kind="facts")


def make_plan(facts: PatientFacts) -> Plan:
    from vertebra.engine import plan

    return plan(facts)


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def input_hash(data: Any, settings: Settings) -> str:
    """SHA-256 of the canonical JSON input, or HMAC-SHA256 when a hash key is configured."""
    payload = canonical(data)
    if settings.audit_hash_key:
        digest = hmac.new(settings.audit_hash_key.encode(), payload, hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest}"
    return f"sha256:{hashlib.sha256(payload).hexdigest()}"


def stored_facts(facts: PatientFacts | None, settings: Settings) -> dict[str, Any] | None:
    """Raw facts for the audit record, only when ``VERTEBRA_AUDIT_STORE_FACTS`` is on."""
    if facts is None or not settings.audit_store_facts:
        return None
    return facts.model_dump(mode="json", exclude_none=True)


def too_deep(data: Any, limit: int) -> str | None:
    """The path of the first value nested deeper than ``limit`` levels (None when within it).

    Iterative, so it cannot itself overflow the stack; checked before anything recursive (the
    FHIR mapping, the facts model) walks the input."""
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
            return path or "(body)"
        for sub, child in items:
            if isinstance(child, dict | list):
                stack.append((child, sub, depth + 1))
    return None


def check_depth(data: Any, settings: Settings, prefix: str = "") -> None:
    """HTTP 422 naming the field nested deeper than ``VERTEBRA_MAX_JSON_DEPTH``."""
    from vertebra.api.errors import invalid_input

    path = too_deep(data, settings.max_json_depth)
    if path is not None:
        field_name = f"{prefix}.{path}".strip(".") if prefix else path
        raise invalid_input([{
            "field": field_name,
            "message": f"nested deeper than {settings.max_json_depth} levels "
                       "(VERTEBRA_MAX_JSON_DEPTH)",
            "type": "too_deep",
        }])  # fmt: skip


def check_counts(resources: Any, settings: Settings, field_name: str) -> None:
    """HTTP 413 naming the limit when a Bundle holds more resources, Conditions or Observations
    than the server considers for one patient (``VERTEBRA_MAX_BUNDLE_RESOURCES`` …)."""
    from vertebra.api.errors import ApiError

    if isinstance(resources, dict):
        entries = resources.get("entry")
        items = [e.get("resource") if isinstance(e, dict) else None
                 for e in entries] if isinstance(entries, list) else []  # fmt: skip
    elif isinstance(resources, list):
        items = resources
    else:
        return
    limits = (
        (None, settings.max_bundle_resources, "VERTEBRA_MAX_BUNDLE_RESOURCES", "resources"),
        ("Condition", settings.max_conditions, "VERTEBRA_MAX_CONDITIONS", "Conditions"),
        ("Observation", settings.max_observations, "VERTEBRA_MAX_OBSERVATIONS", "Observations"),
    )
    for rtype, limit, name, noun in limits:
        count = len(items) if rtype is None else sum(
            1 for r in items if isinstance(r, dict) and r.get("resourceType") == rtype
        )
        if count > limit:
            raise ApiError(
                413, "too_many_resources",
                f"{field_name} holds {count} {noun}; the limit is {limit} ({name})",
                [{"field": field_name, "message": f"more than {limit} {noun} ({name})",
                  "type": "too_many_resources"}],
            )  # fmt: skip
