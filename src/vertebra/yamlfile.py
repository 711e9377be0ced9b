"""YAML for the packaged data files: libyaml's safe loader when PyYAML was built with it (several
times faster than the pure-Python one), the pure-Python safe loader otherwise. Same results.

PyYAML builds Python objects from libyaml's node tree in Python, one generator per mapping. The
knowledge base is mostly plain mappings, sequences and strings, so :func:`safe_load` builds those
three directly and hands every other node (numbers, booleans, null, dates, merge keys, other
tags) to PyYAML's own safe constructor: the same objects, in about two thirds of the time
(bench/cli; tests/test_yamlfile.py checks both give equal results).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def safe_load(data: str | bytes) -> Any:
    """``yaml.safe_load``, with libyaml when available."""
    loader = _LOADER(data)
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(loader).build(node)
    finally:
        loader.dispose()


class _Builder:
    """Plain mappings, sequences and strings built directly; anything else by PyYAML."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.built: dict[int, Any] = {}  # an anchored node used twice is one object, as in PyYAML

    def build(self, node: Node) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        done = self.built.get(id(node))
        if done is not None:
            return done
        if tag == _MAP and isinstance(node, MappingNode):
            if any(key.tag != _STR for key, _ in node.value):  # merge keys, non-string keys
                return self.loader.construct_object(node, deep=True)
            mapping: dict[str, Any] = {}
            self.built[id(node)] = mapping
            for key, value in node.value:
                mapping[key.value] = self.build(value)
            return mapping
        if tag == _SEQ and isinstance(node, SequenceNode):
            sequence: list[Any] = []
            self.built[id(node)] = sequence
            sequence.extend(self.build(item) for item in node.value)
            return sequence
        return self.loader.construct_object(node, deep=True)
