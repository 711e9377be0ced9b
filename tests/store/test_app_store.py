"""The whole app on each database: a plan and a hook call leave their audit records."""

from __future__ import annotations

from typing import Any

from vertebra.http import create_app
from vertebra.http.testing import ASGIClient
from vertebra.settings import Settings

FACTS: dict[str, Any] = {"age": 81, "sex": "female", "fracture_levels": ["L2"]}


def test_app_audits_plan_calls_on_this_database(database_url: str) -> None:
    client = ASGIClient(
        create_app(Settings(database_url=database_url, auth="disabled", audit_store_facts=True))
    )
    try:
        assert client.post("/api/plan", json=FACTS).status_code == 200
        assert client.post("/api/plan", json={"age": "old"}).status_code == 422
        (event,) = client.app.state.vertebra.store.events()
        assert event.hook == "api.plan"
        assert event.input_facts == FACTS
        assert event.recommendation_ids
    finally:
        client.app.state.vertebra.close()
