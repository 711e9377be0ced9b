from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vertebra.http import create_app
from vertebra.http.testing import ASGIClient
from vertebra.security.devkeys import EhrSigner
from vertebra.settings import Settings

SERVICE = "vertebra-patient-view"


@pytest.fixture(scope="session")
def es384() -> EhrSigner:
    return EhrSigner(iss="https://ehr-es.example.org", alg="ES384")


@pytest.fixture(scope="session")
def rs384() -> EhrSigner:
    return EhrSigner(iss="https://ehr-rs.example.org", alg="RS384")


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Any]:
    made: list[ASGIClient] = []

    def make(**settings: Any) -> ASGIClient:
        settings.setdefault("database_url", f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        if settings.get("trusted_issuers"):
            settings.setdefault("public_base_url", "http://testserver")
        client = ASGIClient(create_app(Settings(**settings)))
        made.append(client)
        return client

    yield make
    for client in made:
        client.app.state.vertebra.close()
