from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

EVAL = Path(__file__).with_name("eval_questions.yaml")


def load_eval() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load(EVAL.read_text(encoding="utf-8"))["questions"]
    return data


@pytest.fixture(scope="session")
def eval_questions() -> list[dict[str, Any]]:
    return load_eval()
