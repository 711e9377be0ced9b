"""Every decision-table row has its own test: its `fires_with` facts (over the baseline patient)
must fire it with its own action, its `silent_with` facts must not, and making any of its inputs
unknown must never silently drop it (the fact is reported as missing instead)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import with_facts
from vertebra.engine import drug_safety, plan
from vertebra.engine.safety import base_facts
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


def _guarded(p: Plan, srow: CompiledSafetyRow) -> list[Recommendation]:
    return [
        r for r in p.recommendations if r.drug in srow.drugs or r.id in srow.row.recommendations
    ]


@pytest.mark.parametrize("srow", SAFETY, ids=[s.row.id for s in SAFETY])
def test_safety_row_acts_on_what_it_guards(srow: CompiledSafetyRow) -> None:
    """Its `fires_with` facts make it act: block (no dose shown), adjust the dose, or caution."""
    p = _plan(srow.row.test.fires_with)
    hits = _guarded(p, srow)
    assert hits, f"no recommendation guarded by {srow.row.id} to check"
    action = srow.row.action
    if action in ("avoid", "contraindicated"):
        blocked = [r for r in hits if r.action in ("avoid", "contraindicated")]
        assert blocked, f"{srow.row.id}: {[(r.id, r.action) for r in hits]}"
        for r in blocked:
            assert srow.row.reason in r.cautions
            assert set(srow.row.references) <= set(r.citations)
            assert r.dose is None, "no dose to give for a drug advised against"
        assert all(r.action != "do" for r in hits)
        if action == "contraindicated":
            assert any(r.action == "contraindicated" for r in blocked)
        return
    acted = [r for r in hits if any(srow.row.reason in c for c in r.cautions)]
    assert acted, f"{srow.row.id}: reason not shown on {[r.id for r in hits]}"
    for r in acted:
        assert set(srow.row.references) <= set(r.citations)
        if action == "adjust" and r.action in ("do", "consider"):
            assert r.dose == srow.row.dose
        if srow.row.at_most == "consider":
            assert r.action != "do"


UNKNOWN_SAFETY = [s for s in SAFETY if base_facts(facts_used(s.row.when)) - REQUIRED]


@pytest.mark.parametrize("srow", UNKNOWN_SAFETY, ids=[s.row.id for s in UNKNOWN_SAFETY])
def test_safety_row_unknown_is_never_a_silent_no(srow: CompiledSafetyRow) -> None:
    """With the facts the safety row reads unknown, it says what to check (and names the facts
    as missing); a row that can block or change the dose also turns any 'do' into 'consider'."""
    patch: dict[str, Any] = dict(srow.row.test.fires_with)
    names = base_facts(facts_used(srow.row.when)) - REQUIRED
    for name in names:
        patch[name] = None
    p = _plan(patch)
    missing = {m.field for m in p.missing_information}
    guarded = _guarded(p, srow)
    if not guarded:  # the plan proposes none of its drugs here: ask the engine's own check
        if srow.row.action not in ("avoid", "contraindicated"):  # drug_safety: blocking rows only
            pytest.fail(
                f"{srow.row.id}: no scenario proposes {sorted(srow.drugs)}: "
                "give the row a fires_with that does"
            )
        facts = parse_record_facts(with_facts(patch))
        for drug in sorted(srow.drugs):
            (finding,) = [f for f in drug_safety(facts, drug) if f.rule == srow.row.id]
            assert finding.action == "check", (drug, finding)
            assert names & set(finding.unknown), (drug, finding)
        return
    for r in guarded:
        if r.action in ("avoid", "contraindicated"):
            continue  # blocked for another reason
        checked = any(c.startswith("Check ") and srow.row.reason in c for c in r.cautions)
        if not checked:  # another branch of the row still holds on the known facts
            assert srow.row.reason in " ".join(r.cautions), r.id
            continue
        assert names & missing
        if srow.row.action != "caution":
            assert r.action != "do", f"{r.id} is 'do' although {srow.row.id} cannot be checked"
