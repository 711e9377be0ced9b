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
