"""too_deep answers with a fast walk that builds no paths, and builds the path only for input
that is too deep: its answers must be those of the path-building walk alone."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vertebra.intake.core import _first_too_deep, too_deep

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=2), children, max_size=4)
    ),
    max_leaves=40,
)


@given(JSON, st.integers(min_value=1, max_value=6))
@settings(max_examples=400, deadline=None)
def test_too_deep_answers_as_the_path_building_walk(data: Any, limit: int) -> None:
    assert too_deep(data, limit) == _first_too_deep(data, limit)


def _nest(levels: int) -> Any:
    data: Any = 1
    for i in range(levels):
        data = {"k": data} if i % 2 else [data]
    return data


def test_exactly_at_the_limit_passes_one_more_level_is_named() -> None:
    assert too_deep(_nest(64), 64) is None
    assert too_deep({"a": [1, {"b": _nest(61)}]}, 64) is None
    assert too_deep({"a": [1, {"b": _nest(62)}]}, 64) is not None
    assert too_deep({"entry": [{"x": 1}, {"y": _nest(70)}]}, 64) == _first_too_deep(
        {"entry": [{"x": 1}, {"y": _nest(70)}]}, 64
    )
    assert too_deep("scalar", 1) is None
    assert too_deep([], 1) is None
    assert too_deep([[]], 1) == "[0]"
