"""``POST /api/ask`` (docs/contract.md §5) through the application's error handling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vertebra.ask import answer
from vertebra.http import create_app
from vertebra.http.testing import ASGIClient
from vertebra.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[ASGIClient]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", auth="disabled"))
    c = ASGIClient(app)
    yield c
    app.state.vertebra.close()


def test_answer_is_the_cli_json(client: ASGIClient) -> None:
    q = "What referrals are needed for a compression fracture at L2?"
    r = client.post("/api/ask", json={"question": q})
    assert r.status_code == 200
    assert r.json() == answer(q).model_dump(mode="json")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"question": ""},
        {"question": "   "},
        {"question": "x" * 2001},
        {"question": 3},
        {"question": "ok", "extra": 1},
    ],
)
def test_invalid_is_422_naming_question(client: ASGIClient, body: dict[str, Any]) -> None:
    r = client.post("/api/ask", json=body)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert "question" in fields or "extra" in fields


def test_openapi_lists_ask(client: ASGIClient) -> None:
    assert "/api/ask" in client.get("/openapi.json").json()["paths"]
