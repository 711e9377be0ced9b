"""Shared fixtures: the shipped knowledge base and the row-test baseline patient."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertebra.knowledge import KnowledgeBase, load

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def baseline_facts() -> dict[str, Any]:
    """The fully documented baseline patient every row test starts from."""
    text = (
        resources.files("vertebra.knowledge")
        .joinpath("data", "row-test-baseline.yaml")
        .read_text(encoding="utf-8")
    )
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def with_facts(patch: dict[str, Any]) -> dict[str, Any]:
    """Baseline + patch, dropping facts set to null (unknown)."""
    merged = {**baseline_facts(), **patch}
    return {k: v for k, v in merged.items() if v is not None}


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load()
