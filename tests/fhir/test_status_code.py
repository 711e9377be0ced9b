"""inbound._status_code reads the JSON directly; it must answer as the first non-empty code of
codings() does."""

from __future__ import annotations

from typing import Any

import pytest

from vertebra.fhir.codes import codings
from vertebra.fhir.inbound import _status_code


def _via_codings(concept: Any) -> str | None:
    return next((c.code for c in codings(concept) if c.code), None)


@pytest.mark.parametrize(
    "concept",
    [
        None,
        "active",
        {},
        {"coding": "active"},
        {"coding": []},
        {"coding": [{"code": "active"}]},
        {"coding": [{"code": "  resolved \n"}]},
        {"coding": [{"code": "   "}, {"code": "inactive"}]},
        {"coding": [{"code": ""}, {"system": "x"}, {"code": "remission"}]},
        {"coding": ["active", None, 3, {"code": 5}, {"code": None}, {"code": "refuted"}]},
        {"coding": [{"display": "Active"}], "text": "active"},
        {"coding": [{"code": "entered-in-error"}, {"code": "confirmed"}]},
    ],
)
def test_status_code_answers_as_codings(concept: Any) -> None:
    assert _status_code(concept) == _via_codings(concept)
