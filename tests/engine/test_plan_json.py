"""``Plan.to_json`` (orjson) writes the same bytes as pydantic's ``model_dump_json(indent=2)``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import EXAMPLES
from tests.engine.strategies import patient_facts
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.plan import Plan

CASES = sorted(EXAMPLES.glob("*.json"))


def _pydantic(p: Plan) -> str:
    return p.model_dump_json(indent=2, exclude=None if p.facts_from_text else {"facts_from_text"})


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_example_plans_serialise_as_pydantic_does(case: Path) -> None:
    p = plan(parse_facts(json.loads(case.read_text())))
    assert p.to_json() == _pydantic(p)


@given(patient_facts())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_plans_serialise_as_pydantic_does(data: dict[str, Any]) -> None:
    p = plan(parse_facts(data))
    assert p.to_json() == _pydantic(p)


def test_awkward_text_and_report_evidence_serialise_as_pydantic_does() -> None:
    base = json.loads(plan(parse_facts(json.loads(CASES[0].read_text()))).to_json())
    odd = 'quote " backslash \\ tab \t newline \n nul \x00 \x1f \x7f é 𝛼 \u2028 </script> 1e16'
    base["summary"] = odd
    base["recommendations"][0]["title"] = odd
    base["timeline"][0]["weeks"] = 1e16
    base["facts_from_text"] = [
        {
            "resource": "DiagnosticReport/1",
            "date": date(2024, 2, 29),
            "facts": ["fracture_levels"],
            "levels": ["L1"],
            "acuity": None,
            "sentence": odd,
        }
    ]
    p = Plan.model_validate(base)
    assert p.to_json() == _pydantic(p)
    assert '"facts_from_text"' in p.to_json()


def test_json_bytes_are_the_json_text_in_utf8() -> None:
    p = plan(parse_facts(json.loads(CASES[0].read_text())))
    assert p.to_json_bytes() == p.to_json().encode("utf-8")
    assert p.to_json_bytes() == _pydantic(p).encode("utf-8")
