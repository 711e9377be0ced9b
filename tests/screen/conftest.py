from __future__ import annotations

from pathlib import Path

import pytest

from vertebra.synth import generate

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "synthea-bulk-10"


@pytest.fixture(scope="session")
def synthea_dir() -> Path:
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea sample not found at {SYNTHEA}")
    return SYNTHEA


@pytest.fixture(scope="session")
def synthetic_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(3000, out, seed=11)
    return out
