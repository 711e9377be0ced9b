"""Golden plans for the shipped examples: any change to a plan shows up as a reviewed diff.

Regenerate after a reviewed knowledge change with ``VERTEBRA_UPDATE_GOLDEN=1 pytest tests/engine``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from vertebra.engine import plan
from vertebra.facts import parse_facts

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(EXAMPLES.glob("*.json"))


def test_there_are_at_least_ten_examples_covering_every_pathway() -> None:
    assert len(CASES) >= 10
    pathways = {plan(parse_facts(json.loads(c.read_text()))).pathway for c in CASES}
    assert pathways == {"stable", "potentially_unstable", "pathological_suspected", "out_of_scope"}


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_plan(case: Path) -> None:
    text = plan(parse_facts(json.loads(case.read_text()))).to_json() + "\n"
    golden = GOLDEN / case.name
    if os.environ.get("VERTEBRA_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden plan for {case.name}: run with VERTEBRA_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


def test_out_of_scope_plan_asks_for_nothing_it_does_not_use() -> None:
    """Derived facts name their missing facts only where they apply (derived.yaml ask_when):
    an out-of-scope plan lists no bone-drug questions."""
    from vertebra.engine import plan
    from vertebra.facts import parse_facts

    out = plan(
        parse_facts(
            {"age": 45, "sex": "male", "fracture_levels": ["L1"], "mechanism": "high_energy"}
        )
    )
    assert out.pathway == "out_of_scope"
    assert [m.field for m in out.missing_information] == []
    stable = plan(
        parse_facts(
            {"age": 80, "sex": "female", "fracture_levels": ["L1"], "mechanism": "low_energy"}
        )
    )
    assert "osteoporosis_drug" in [m.field for m in stable.missing_information]
