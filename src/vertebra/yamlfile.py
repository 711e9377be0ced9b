"""YAML for the packaged data files: libyaml's safe loader when PyYAML was built with it (several
times faster than the pure-Python one), the pure-Python safe loader otherwise. Same results."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(data: str | bytes) -> Any:
    """``yaml.safe_load``, with libyaml when available."""
    return yaml.load(data, Loader=_LOADER)
