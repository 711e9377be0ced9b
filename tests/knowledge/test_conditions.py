"""The condition language: three-valued logic and rationale words."""

from __future__ import annotations

from typing import Any

import pytest

from vertebra.knowledge.conditions import ConditionError, compile_condition, describe


def label(name: str) -> str:
    return name.replace("_", " ")


def show(name: str, value: Any) -> str:
    return str(value)


def run(cond: dict[str, Any], ctx: dict[str, Any]) -> bool | None:
    return compile_condition(cond, label, show)(ctx).value


def test_equality_true_false_unknown() -> None:
    cond = {"neurological_deficit": True}
    assert run(cond, {"neurological_deficit": True}) is True
    assert run(cond, {"neurological_deficit": False}) is False
    assert run(cond, {"neurological_deficit": None}) is None
    assert run(cond, {}) is None


def test_and_is_false_when_any_part_false_even_if_other_unknown() -> None:
    cond = {"a": True, "b": True}
    assert run(cond, {"a": False, "b": None}) is False
    assert run(cond, {"a": True, "b": None}) is None
    assert run(cond, {"a": True, "b": True}) is True


def test_or_is_true_when_any_part_true_even_if_other_unknown() -> None:
    cond = {"any": [{"a": True}, {"b": True}]}
    assert run(cond, {"a": None, "b": True}) is True
    assert run(cond, {"a": None, "b": False}) is None
    assert run(cond, {"a": False, "b": False}) is False


def test_not_keeps_unknown() -> None:
    cond = {"not": {"a": True}}
    assert run(cond, {"a": None}) is None
    assert run(cond, {"a": False}) is True


@pytest.mark.parametrize(
    ("op", "limit", "value", "expected"),
    [
        ("lt", 35, 34.9, True),
        ("lt", 35, 35, False),
        ("lte", 28, 28, True),
        ("gt", 84, 85, True),
        ("gt", 84, 84, False),
        ("gte", 12, 12, True),
    ],
)
def test_comparisons(op: str, limit: float, value: float, expected: bool) -> None:
    assert run({"x": {op: limit}}, {"x": value}) is expected
    assert run({"x": {op: limit}}, {"x": None}) is None


def test_list_operators() -> None:
    assert run({"c": {"contains": "a"}}, {"c": ["a", "b"]}) is True
    assert run({"c": {"contains": "z"}}, {"c": ["a"]}) is False
    assert run({"c": {"contains": "z"}}, {"c": None}) is None
    assert run({"c": {"contains_any": ["z", "b"]}}, {"c": ["a", "b"]}) is True
    assert run({"c": {"lacks": "a"}}, {"c": ["b"]}) is True
    assert run({"c": {"lacks_all": ["a", "b"]}}, {"c": ["b"]}) is False
    assert run({"c": {"count_gte": 2}}, {"c": ["L1", "L2"]}) is True
    assert run({"c": {"count_lt": 2}}, {"c": ["L1", "L2"]}) is False


def test_presence_operators_never_unknown() -> None:
    assert run({"x": {"unknown": True}}, {"x": None}) is True
    assert run({"x": {"unknown": True}}, {"x": 3}) is False
    assert run({"x": {"known": True}}, {"x": None}) is False


def test_unknown_facts_are_reported_through_derived_dependencies() -> None:
    fn = compile_condition({"phase": "acute"}, label, show)
    out = fn({"phase": None, "_deps": {"phase": frozenset({"days_since_onset"})}})
    assert out.value is None
    assert out.unknown == frozenset({"days_since_onset"})


def test_rationale_names_the_facts() -> None:
    fn = compile_condition({"creatinine_clearance": {"lt": 35}}, label, show)
    out = fn({"creatinine_clearance": 20})
    assert out.reasons == ("creatinine clearance: 20 (< 35)",)


@pytest.mark.parametrize(
    "bad",
    [
        {"x": {"lt": "a"}},
        {"x": {"between": 3}},
        {"x": [1, 2]},
        {"any": []},
        {"x": {"in": []}},
        {"x": {"unknown": "yes"}},
        {"x": {"count_gte": 1.5}},
    ],
)
def test_malformed_conditions_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ConditionError):
        compile_condition(bad, label, show)


def test_describe_reads_like_a_sentence() -> None:
    text = describe({"a": True, "b": {"lt": 3}, "any": [{"c": "x"}, {"d": "y"}]}, label, show)
    assert text == "a is True AND b < 3 AND (c is x OR d is y)"
