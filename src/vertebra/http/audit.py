"""What the audit store keeps of an HTTP call's input: a (keyed) hash, and the raw facts only
when ``VERTEBRA_AUDIT_STORE_FACTS`` is on."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from vertebra.facts import PatientFacts
from vertebra.settings import Settings


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
