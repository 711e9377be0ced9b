from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared
from vertebra.synth import generate


@pytest.fixture(scope="session")
def synthea_dir() -> Path:
    return shared("data/synthea-bulk-10")


@pytest.fixture(scope="session")
def synthetic_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(3000, out, seed=11)
    return out
