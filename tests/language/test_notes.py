"""The note reader's data (data/notes.yaml) is validated at load; its readings follow ConText."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vertebra.facts import RED_FLAGS
from vertebra.language.notes import NoteRules, read_notes, rules


def test_the_rules_load_and_name_only_contract_red_flags() -> None:
    data = rules().model_dump()
    assert set(data["red_flags"]) == set(RED_FLAGS)  # every contract red flag can be read
    data["red_flags"]["back_pain"] = ["back pain"]
    with pytest.raises(ValidationError, match="unknown red flags"):
        NoteRules.model_validate(data)


def test_a_deficit_negated_is_a_normal_examination_but_a_sign_negated_is_not() -> None:
    assert read_notes(["No focal neurological deficit."]).values == {"neurological_deficit": False}
    r = read_notes(["No leg weakness."])
    assert r.values == {}
    assert r.unused and "one sign, not the examination" in r.unused[0][2]
