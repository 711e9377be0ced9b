"""The parsed twin of the shipped knowledge files (``knowledge/parsed.json``): current, used only
for exactly the files it was made from, and loading through it gives the same knowledge base."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from vertebra.knowledge import loader
from vertebra.knowledge.loader import PARSED, load_from, parsed_json

DATA = Path(str(resources.files("vertebra.knowledge").joinpath("data")))
SHIPPED = Path(loader.__file__).with_name(PARSED)


def _canonical(raw: bytes) -> str:
    return json.dumps(json.loads(raw))


def test_the_parsed_twin_is_up_to_date() -> None:
    # the values in their order, not the bytes: the release runs' orjson may lay JSON out
    # differently (json.dumps keeps each mapping's key order, which the knowledge base keeps)
    assert _canonical(SHIPPED.read_bytes()) == _canonical(parsed_json()), (
        f"{PARSED} is out of date: run `uv run --frozen python -m vertebra.docgen`"
    )


def test_the_shipped_files_load_through_the_twin_and_give_what_the_yaml_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    parse = loader._parse

    def counted(name: str, raw: bytes) -> Any:
        calls.append(name)
        return parse(name, raw)

    monkeypatch.setattr(loader, "_parse", counted)
    through_twin = load_from(DATA)
    assert calls == []  # nothing parsed: every file came from the twin
    monkeypatch.setattr(loader, "_parsed", lambda key: None)
    from_yaml = load_from(DATA)
    assert len(calls) == len(loader._file_names(DATA))
    assert through_twin.version == from_yaml.version
    assert [r.row for r in through_twin.rows()] == [r.row for r in from_yaml.rows()]
    assert [s.row for s in through_twin.safety_rows] == [s.row for s in from_yaml.safety_rows]
    assert through_twin.vocabulary == from_yaml.vocabulary
    assert through_twin.medicines == from_yaml.medicines
    assert through_twin.sources == from_yaml.sources
    assert through_twin.conflicts == from_yaml.conflicts


def test_a_changed_file_is_read_from_its_yaml_not_from_the_twin(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    manifest = folder / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    name = loader.load().manifest.name
    assert name in text
    manifest.write_text(text.replace(name, "Changed for the test", 1), encoding="utf-8")
    kb = load_from(folder)
    assert kb.manifest.name == "Changed for the test"
    assert kb.version != loader.load().version


def test_an_unparseable_twin_key_means_parsing_the_yaml() -> None:
    assert loader._parsed("sha256:0") is None
