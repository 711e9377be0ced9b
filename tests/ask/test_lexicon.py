"""The ask data files are validated: unknown keys and unknown vocabulary are rejected."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from vertebra.ask import lexicon as lx


def _raw(name: str) -> dict[str, object]:
    from importlib import resources

    data: dict[str, object] = yaml.safe_load(
        resources.files("vertebra.ask").joinpath("data").joinpath(name).read_bytes()
    )
    return data


def test_shipped_files_load() -> None:
    assert lx.lexicon().synonyms and lx.intents().intents and lx.extraction().numbers


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("lexicon.yaml", lx.Lexicon),
        ("intents.yaml", lx.IntentFile),
        ("extraction.yaml", lx.Extraction),
    ],
)
def test_unknown_keys_are_rejected(name: str, model: type[BaseModel]) -> None:
    data = _raw(name)
    data["surprise"] = 1
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_unknown_category_is_rejected() -> None:
    data = _raw("intents.yaml")
    data["intents"][0]["focus"] = ["astrology"]  # type: ignore[index]
    with pytest.raises(ValidationError):
        lx.IntentFile.model_validate(data)


def test_the_rows_the_answers_name_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _raw("intents.yaml")
    rows = data["rows"]
    assert isinstance(rows, dict)
    rows["high_energy_scope"] = "scope-no-such-row"
    monkeypatch.setattr(lx, "_read", lambda name: data)
    lx.intents.cache_clear()
    try:
        with pytest.raises(lx.LexiconError, match="unknown knowledge-base row 'scope-no-such-row'"):
            lx.intents()
    finally:
        lx.intents.cache_clear()
