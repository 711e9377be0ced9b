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
    text_evidence: list[Any] = field(default_factory=list)  # plan.TextEvidence


def read_patient(data: Any) -> Input:
    """Patient facts or a FHIR R4 resource/Bundle → facts; raises :class:`FactsError`."""
    fhir = fhir_module()
    if fhir is not None and fhir.is_fhir(data):
        mapped = fhir.to_facts(data)
        facts = mapped.facts
        if not isinstance(facts, PatientFacts):
            facts = parse_facts(facts)
        return Input(facts=facts, kind="fhir", notes=[str(n) for n in getattr(mapped, "notes", [])],
                     text_evidence=list(getattr(mapped, "text_evidence", [])))
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
