"""The clinical hazard log (docs/safety/hazards.yaml, DCB0129 style) stays true: every hazard names
controls and tests that exist, and its rendered log is up to date."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertebra.knowledge import load

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "vertebra" / "knowledge" / "data"
HAZARDS: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "docs" / "safety" / "hazards.yaml").read_text(encoding="utf-8")
)["hazards"]
SEVERITY = ("minor", "significant", "considerable", "major", "catastrophic")
LIKELIHOOD = ("very_low", "low", "medium", "high", "very_high")


def _test_exists(node_id: str) -> bool:
    path, _, name = node_id.partition("::")
    file = ROOT / path
    if not file.is_file() or not name:
        return False
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == name.split("[")[0] for n in tree.body)


def _data_exists(ref: str) -> bool:
    file, _, key = ref.partition("#")
    data = yaml.safe_load((DATA / file).read_text(encoding="utf-8"))
    if file == "derived.yaml":
        return any(d["name"] == key for d in data["derived"])
    if file == "conflicts.yaml":
        return any(c["id"] == key for c in data["conflicts"])
    return isinstance(data, dict) and key in data


def test_ids_are_unique_and_fields_valid() -> None:
    ids = [h["id"] for h in HAZARDS]
    assert len(ids) == len(set(ids))
    for h in HAZARDS:
        assert h["severity"] in SEVERITY and h["likelihood"] in LIKELIHOOD, h["id"]
        assert h["status"] in ("controlled", "open"), h["id"]
        assert h["causes"] and h["description"] and h["residual"], h["id"]


@pytest.mark.parametrize("hazard", HAZARDS, ids=[h["id"] for h in HAZARDS])
def test_every_hazard_names_existing_controls_and_tests(hazard: dict[str, Any]) -> None:
    kb = load()
    row_ids = {r.row.id for r in kb.rows()} | {s.row.id for s in kb.safety_rows}
    controls = hazard["controls"]
    assert controls.get("rows") or controls.get("data") or controls.get("engine")
    for row in controls.get("rows", []):
        assert row in row_ids, f"{hazard['id']}: unknown row {row}"
    for ref in controls.get("data", []):
        assert _data_exists(ref), f"{hazard['id']}: unknown data {ref}"
    if hazard["status"] == "controlled":
        assert hazard["tests"], f"{hazard['id']}: a controlled hazard needs a guarding test"
    for node in hazard["tests"]:
        assert _test_exists(node), f"{hazard['id']}: no test {node}"


def test_every_issue_10_finding_is_logged() -> None:
    origins = " ".join(h["origin"] for h in HAZARDS)
    for n in range(1, 14):
        assert f"issue 10, finding {n}" in origins, n


CONTROLLING_SAFETY_ROWS = sorted(
    {
        r
        for h in HAZARDS
        for r in h["controls"].get("rows", [])
        if r in {s.row.id for s in load().safety_rows}
    }
)


def test_every_controlling_safety_row_is_effective(tmp_path: Path) -> None:
    """Removing a safety row that a hazard relies on changes the plan of the row's own test
    patient: the control is not decorative (a cheap mutation test of the hazard log)."""
    import shutil

    from tests.conftest import with_facts
    from vertebra.engine import plan
    from vertebra.facts import parse_record_facts
    from vertebra.knowledge.loader import load_from

    shipped = load()
    by_id = {s.row.id: s for s in shipped.safety_rows}
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    original = yaml.safe_load((DATA / "safety.yaml").read_text(encoding="utf-8"))
    for row_id in CONTROLLING_SAFETY_ROWS:
        mutated = dict(original, rows=[r for r in original["rows"] if r["id"] != row_id])
        (folder / "safety.yaml").write_text(yaml.safe_dump(mutated), encoding="utf-8")
        facts = parse_record_facts(with_facts(by_id[row_id].row.test.fires_with))
        before = plan(facts, shipped).model_dump(exclude={"knowledge_version"})
        after = plan(facts, load_from(folder)).model_dump(exclude={"knowledge_version"})
        assert before != after, f"removing {row_id} changes nothing for its test patient"
