"""The form ↔ facts mapping: unknown stays unknown, nothing entered is dropped."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.web.conftest import example
from vertebra.facts import parse_facts
from vertebra.web import form


def items_from_state(state: form.FormState) -> list[tuple[str, str]]:
    """What a browser posts for a filled-in form."""
    items: list[tuple[str, str]] = []
    for name, spec in form.FIELDS.items():
        if spec.kind in ("levels", "multi"):
            items.extend((name, v) for v in state.lists.get(name, []))
            if spec.kind == "multi":
                items.append((name + form.KNOWN_SUFFIX, "yes" if state.reviewed.get(name) else ""))
        else:
            items.append((name, state.value(name)))
    return items


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_round_trips_through_the_form(path: Any) -> None:
    facts = example(path.stem)
    posted = form.facts_from_form(items_from_state(form.state_from_facts(facts)))
    assert parse_facts(posted) == parse_facts(facts)
    assert set(posted) == {k for k, v in facts.items() if v is not None}


def test_empty_inputs_and_unknown_radios_are_left_out() -> None:
    posted = form.facts_from_form(
        [
            ("age", "80"),
            ("sex", "male"),
            ("fracture_levels", "T12"),
            ("weight_kg", ""),
            ("neurological_deficit", ""),
            ("mechanism", ""),
            ("conditions__reviewed", ""),
        ]
    )
    assert posted == {"age": 80, "sex": "male", "fracture_levels": ["T12"]}


def test_three_way_booleans() -> None:
    assert form.facts_from_form([("hospitalised", "yes")]) == {"hospitalised": True}
    assert form.facts_from_form([("hospitalised", "no")]) == {"hospitalised": False}
    assert form.facts_from_form([("hospitalised", "")]) == {}


def test_lists_unknown_unless_reviewed_or_ticked() -> None:
    assert form.facts_from_form([("conditions__reviewed", "yes")]) == {"conditions": []}
    assert form.facts_from_form([("allergies", "naproxen")]) == {"allergies": ["naproxen"]}
    assert form.facts_from_form([]) == {}


def test_numbers_typed_as_text_are_converted_and_bad_text_kept_for_the_error() -> None:
    posted = form.facts_from_form(
        [
            ("age", " 72 "),
            ("t_score", "-2.5"),
            ("weight_kg", "64"),
            ("pain_score", "lots"),
            ("prior_fragility_fractures", "1.5"),
            ("creatinine_clearance", "nan"),
        ]
    )
    assert posted["age"] == 72 and posted["t_score"] == -2.5 and posted["weight_kg"] == 64.0
    assert posted["pain_score"] == "lots"
    assert posted["prior_fragility_fractures"] == "1.5"
    assert posted["creatinine_clearance"] == "nan"


def test_errors_land_on_their_field() -> None:
    state = form.FormState()
    state.add_errors(
        [
            {"field": "fracture_levels[1]", "message": "bad", "allowed": ["T1", "T2"]},
            {"field": "(body)", "message": "not an object"},
        ]
    )
    assert state.errors == {"fracture_levels": ["bad (allowed: T1, T2)"]}
    assert state.general_errors == ["(body): not an object"]


def test_field_bounds_come_from_the_facts_model() -> None:
    assert (form.FIELDS["age"].minimum, form.FIELDS["age"].maximum) == (18, 120)
    assert (form.FIELDS["t_score"].minimum, form.FIELDS["t_score"].maximum) == (-7, 4)
    assert form.FIELDS["age"].required and form.FIELDS["fracture_levels"].required
    assert form.FIELDS["sex"].choices == ("female", "male")
