"""The knowledge lint's no-contradiction proof (issue 10): no plan both offers and advises against
one drug or procedure. It runs on the shipped knowledge (CI), and it must find clashes that are
planted in a copy of the knowledge folder, naming the rows and a patient who triggers them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from vertebra.cli import app
from vertebra.engine import context
from vertebra.engine.consistency import prove
from vertebra.facts import parse_record_facts
from vertebra.knowledge import load
from vertebra.knowledge.loader import KnowledgeBase, load_from

DATA = Path(__file__).resolve().parents[2] / "src" / "vertebra" / "knowledge" / "data"
KYPHO = "procedure-augmentation-after-failed-conservative-care"
NASS = "procedure-augmentation-rarely-appropriate-chronic-mild"
EXCLUSION = ", not: {phase: chronic, pain_score: {lte: 6}}"


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _fires(kb: KnowledgeBase, row_id: str, patient: dict[str, Any]) -> bool:
    facts = parse_record_facts({"age": 72, "sex": "female", **patient})
    ctx = context(facts, kb)
    row = next(r for r in kb.rows() if r.row.id == row_id)
    table = next(t for t in kb.tables if t.table.id == row.table_id)
    out = row.when(ctx).value
    fired = out is True or (out is None and row.row.if_unknown == "consider")
    return table.applies(ctx).value is True and fired


def test_no_plan_offers_and_advises_against_the_same_decision() -> None:
    proof = prove(load())
    assert proof.ok, "\n".join(c.describe() for c in proof.clashes)
    assert proof.pairs >= 10 and proof.candidates > 10_000  # it really searched


def test_the_proof_finds_a_planted_clash(tmp_path: Path) -> None:
    """Remove the NASS exclusion from the kyphoplasty row: the proof must name both rows and a
    patient for whom the engine's own evaluation fires both."""
    folder = _copy(tmp_path)
    _edit(folder / "tables" / "80-procedures.yaml", EXCLUSION, "")
    kb = load_from(folder)
    proof = prove(kb)
    clash = next(c for c in proof.clashes if set(c.rows) == {KYPHO, NASS})
    assert clash.decision == "augmentation"
    assert _fires(kb, KYPHO, clash.patient) and _fires(kb, NASS, clash.patient)
    assert "pain_score" in clash.patient and "days_since_onset" in clash.patient
    result = CliRunner().invoke(app, ["knowledge", "lint", "--path", str(folder)])
    assert result.exit_code == 1
    assert KYPHO in result.output and NASS in result.output


def test_a_declared_priority_policy_resolves_the_clash(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder / "tables" / "80-procedures.yaml", EXCLUSION, "")
    _edit(folder / "tables" / "80-procedures.yaml", "hit_policy: collect", "hit_policy: priority")
    proof = prove(load_from(folder))
    assert not [c for c in proof.clashes if set(c.rows) == {KYPHO, NASS}]
    assert proof.resolved_by_policy > 0


def test_a_unique_table_must_not_overlap(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(
        folder / "tables" / "00-scope.yaml",
        "when: {mechanism: {unknown: true}}",
        "when: {mechanism: {in: [high_energy]}}",
    )
    proof = prove(load_from(folder))
    (clash,) = proof.clashes
    assert clash.decision == "unique table scope"
    assert clash.patient["mechanism"] == "high_energy"


def test_lint_reports_the_proof() -> None:
    result = CliRunner().invoke(app, ["knowledge", "lint"])
    assert result.exit_code == 0, result.output
    assert "no-contradiction proof" in result.output and "0 clashes" in result.output
