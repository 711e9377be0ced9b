"""The clinical knowledge base: reviewed, versioned data files shipped inside the package.

``load()`` reads every file under ``data/`` with :mod:`importlib.resources`, validates it (unknown
keys, unknown facts, unknown source ids, bad vocabulary words and malformed conditions fail
loudly) and compiles the conditions once.
"""

from __future__ import annotations

from vertebra.knowledge.loader import (
    CompiledRow,
    CompiledSafetyRow,
    CompiledTable,
    KnowledgeBase,
    KnowledgeError,
    load,
)

__all__ = [
    "CompiledRow",
    "CompiledSafetyRow",
    "CompiledTable",
    "KnowledgeBase",
    "KnowledgeError",
    "load",
]
