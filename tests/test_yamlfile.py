"""``vertebra.yamlfile.safe_load`` builds the same objects as PyYAML's safe loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vertebra import yamlfile

SRC = Path(__file__).resolve().parents[1] / "src" / "vertebra"
SHIPPED = sorted(SRC.rglob("*.yaml"))

TRICKY = """
base: &base {a: 1, b: [x, y]}
merged:
  <<: *base
  b: 2
again: *base
numbers: [1, -2, 0x1f, 1_000, 1.5, .inf, -.nan_, 1e3, "3"]
flags: [true, false, yes, no, on, null, ~, '']
when: 2026-11-30
stamp: 2026-11-30T10:00:00Z
1: integer key
text: |
  two
  lines
"""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SRC)))
def test_every_shipped_yaml_file_loads_as_pyyaml_loads_it(path: Path) -> None:
    raw = path.read_bytes()
    assert yamlfile.safe_load(raw) == yaml.load(raw, Loader=yaml.SafeLoader)


def test_tags_anchors_merge_keys_and_odd_keys_load_as_pyyaml_loads_them() -> None:
    ours = yamlfile.safe_load(TRICKY)
    assert ours == yaml.load(TRICKY, Loader=yaml.SafeLoader)
    assert ours["again"] is ours["base"]  # one anchored node, one object
    assert ours["merged"] == {"a": 1, "b": 2}


def test_a_recursive_anchor_is_one_object() -> None:
    ours = yamlfile.safe_load("a: &x [1, *x]")
    assert ours["a"][1] is ours["a"]


def test_empty_and_bad_documents_behave_as_in_pyyaml() -> None:
    assert yamlfile.safe_load("") is None
    with pytest.raises(yaml.YAMLError):
        yamlfile.safe_load("a: [1, 2")
    with pytest.raises(yaml.YAMLError):
        yamlfile.safe_load("a: 1\n---\nb: 2\n")
    with pytest.raises(yaml.constructor.ConstructorError, match="unhashable key"):
        yamlfile.safe_load("? [a, list]\n: as a key\n")
