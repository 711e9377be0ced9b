"""The issue-12 hazard entries (docs/safety/hazards-issue-12.yaml) name tests that exist."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_every_issue_12_hazard_names_existing_tests() -> None:
    data = yaml.safe_load((ROOT / "docs/safety/hazards-issue-12.yaml").read_text("utf-8"))
    assert [h["id"] for h in data["hazards"]] == ["HAZ-017", "HAZ-018", "HAZ-019", "HAZ-020"]
    for hazard in data["hazards"]:
        assert hazard["status"] == "controlled" and hazard["tests"], hazard["id"]
        for node in hazard["tests"]:
            path, _, name = node.partition("::")
            tree = ast.parse((ROOT / path).read_text("utf-8"))
            names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in names, f"{hazard['id']}: {node} does not exist"
