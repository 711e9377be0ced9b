from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vertebra.http import create_app
from vertebra.http.testing import ASGIClient
from vertebra.settings import Settings

FACTS: dict[str, Any] = {
    "age": 78,
    "sex": "female",
    "postmenopausal": True,
    "fracture_levels": ["T12", "L1"],
    "days_since_onset": 10,
    "mechanism": "low_energy",
    "neurological_deficit": False,
    "pain_score": 7,
    "creatinine_clearance": 25,
}


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Any]:
    made: list[ASGIClient] = []

    def make(**settings: Any) -> ASGIClient:
        settings.setdefault("database_url", f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        settings.setdefault("auth", "disabled")
        client = ASGIClient(create_app(Settings(**settings)))
        made.append(client)
        return client

    yield make
    for client in made:
        client.app.state.vertebra.close()


@pytest.fixture
def client(make_client: Any) -> ASGIClient:
    c: ASGIClient = make_client()
    return c
