"""OpenAPI additions for the CDS Hooks endpoints (nothing beyond what FastAPI generates yet)."""

from __future__ import annotations

from typing import Any


def extend(schema: dict[str, Any]) -> None:
    info = schema.setdefault("info", {})
    info.setdefault("x-cds-hooks-version", "2.0")
