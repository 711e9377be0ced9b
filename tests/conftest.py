"""Shared fixtures: the shipped knowledge base and the row-test baseline patient."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertebra.knowledge import KnowledgeBase, load

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# The project's shared folder (seeds, real FHIR data) lies beside the checkout: ../shared in CI
# and a plain clone, ../../shared from a worktree under a folder of worktrees.
SHARED_CANDIDATES = (ROOT.parent / "shared", ROOT.parent.parent / "shared")


def shared(relative: str) -> Path:
    """``shared/<relative>``. When it is absent the test fails under CI (``CI=true``: the run
    must have the data) and is skipped, saying so, elsewhere."""
    for base in SHARED_CANDIDATES:
        if (base / relative).exists():
            return base / relative
    where = " or ".join(str(b / relative) for b in SHARED_CANDIDATES)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs the shared folder: {where} not found", pytrace=False)
    pytest.skip(f"shared data not found at {where}")


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
