"""Every decision-table row has its own test: its `fires_with` facts (over the baseline patient)
must fire it with its own action, its `silent_with` facts must not, and making any of its inputs
unknown must never silently drop it (the fact is reported as missing instead)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import with_facts
from vertebra.engine import drug_safety, plan
from vertebra.facts import FACT_NAMES, parse_record_facts
from vertebra.knowledge import CompiledRow, CompiledSafetyRow, load
from vertebra.knowledge.conditions import facts_used
from vertebra.plan import Plan, Recommendation

KB = load()
ROWS: list[CompiledRow] = list(KB.rows())
SAFETY: list[CompiledSafetyRow] = list(KB.safety_rows)
REQUIRED = {"age", "sex"}


def _plan(patch: dict[str, Any]) -> Plan:
    return plan(parse_record_facts(with_facts(patch)))


def _find(p: Plan, rec_id: str) -> Recommendation | None:
    return next((r for r in p.recommendations if r.id == rec_id), None)


@pytest.mark.parametrize("row", ROWS, ids=[r.row.id for r in ROWS])
def test_row_fires_with_its_action(row: CompiledRow) -> None:
    p = _plan(row.row.test.fires_with)
    rec = _find(p, row.row.id)
    assert rec is not None, f"{row.row.id} did not fire; plan: {[r.id for r in p.recommendations]}"
    assert rec.action == row.row.then.action
    assert not any(r.startswith("Still unknown") for r in rec.rationale)
    assert set(row.row.references) <= set(rec.citations)
    assert rec.rationale, "a fired row names the facts that fired it"


@pytest.mark.parametrize(
    "row",
    [r for r in ROWS if r.row.test.silent_with is not None],
    ids=[r.row.id for r in ROWS if r.row.test.silent_with is not None],
)
def test_row_stays_silent(row: CompiledRow) -> None:
    assert row.row.test.silent_with is not None
    p = _plan(row.row.test.silent_with)
    assert _find(p, row.row.id) is None


def _unknown_cases() -> list[tuple[CompiledRow, str]]:
    cases: list[tuple[CompiledRow, str]] = []
    for row in ROWS:
        names = [f for f in facts_used(row.row.when) if f in FACT_NAMES and f not in REQUIRED]
        cases.extend((row, name) for name in names)
    return cases


UNKNOWN_CASES = _unknown_cases()


@pytest.mark.parametrize(
    ("row", "fact"), UNKNOWN_CASES, ids=[f"{r.row.id}-{f}" for r, f in UNKNOWN_CASES]
)
def test_unknown_input_is_never_a_silent_no(row: CompiledRow, fact: str) -> None:
    """With one of the row's inputs unknown, the row either still fires (another branch holds or
    the row proposes 'consider') or the unknown fact is listed as missing information."""
    p = _plan({**row.row.test.fires_with, fact: None})
    if _find(p, row.row.id) is None:
        missing = {m.field for m in p.missing_information}
        assert fact in missing, f"{row.row.id} dropped silently when {fact} was unknown"


@pytest.mark.parametrize("srow", SAFETY, ids=[s.row.id for s in SAFETY])
def test_safety_row_blocks_its_drug(srow: CompiledSafetyRow) -> None:
    p = _plan(srow.row.test.fires_with)
    hits = [r for r in p.recommendations if r.drug in srow.drugs]
    assert hits, f"no recommendation of {sorted(srow.drugs)} to check"
    blocked = [r for r in hits if r.action in ("avoid", "contraindicated")]
    assert blocked, f"{srow.row.id}: {[(r.id, r.action) for r in hits]}"
    for r in blocked:
        assert srow.row.reason in r.cautions
        assert set(srow.row.references) <= set(r.citations)
    assert all(r.action != "do" for r in hits)
    if srow.row.action == "contraindicated":
        assert any(r.action == "contraindicated" for r in blocked)


@pytest.mark.parametrize("srow", SAFETY, ids=[s.row.id for s in SAFETY])
def test_safety_row_unknown_downgrades_do(srow: CompiledSafetyRow) -> None:
    """With the facts the safety row reads unknown, no drug it guards is a plain 'do'."""
    patch: dict[str, Any] = dict(srow.row.test.fires_with)
    for name in facts_used(srow.row.when):
        patch[name] = None
    p = _plan(patch)
    for r in p.recommendations:
        if r.drug in srow.drugs:
            assert r.action != "do", f"{r.id} is 'do' although {srow.row.id} cannot be checked"
            missing = {m.field for m in p.missing_information}
            assert set(facts_used(srow.row.when)) & missing
    # Whether or not this plan proposes a guarded drug (3 rows' drugs are not proposed with
    # these facts), the engine's own check of each drug reports the row as undecided.
    facts = parse_record_facts(with_facts(patch))
    for drug in sorted(srow.drugs):
        (finding,) = [f for f in drug_safety(facts, drug) if f.rule == srow.row.id]
        assert finding.action == "check", (drug, finding)
        assert set(finding.unknown) & set(facts_used(srow.row.when)), (drug, finding)
