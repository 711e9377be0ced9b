"""GET endpoints, OpenAPI, errors that are not about a field, CORS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vertebra.facts import facts_json_schema
from vertebra.http.testing import ASGIClient
from vertebra.knowledge import load


def test_schema_is_the_facts_schema(client: ASGIClient) -> None:
    r = client.get("/api/schema")
    assert r.status_code == 200
    assert r.json() == facts_json_schema()


def test_knowledge_lists_version_tables_and_bibliography(client: ASGIClient) -> None:
    kb = load()
    body = client.get("/api/knowledge").json()
    assert body["knowledge_version"] == kb.version
    assert [t["id"] for t in body["tables"]] == [t.table.id for t in kb.tables]
    assert {s["id"] for s in body["sources"]} == {s.id for s in kb.sources}
    for source in body["sources"]:
        assert {"id", "title", "organisation", "year"} <= set(source)
    assert body["safety"]["rows"]


def test_openapi_is_published(client: ASGIClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/plan",
        "/api/schema",
        "/api/knowledge",
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/api/plan"]["post"]["requestBody"]["content"]["application/json"]
    refs = {s["$ref"] for s in body["schema"]["oneOf"]}
    assert refs == {"#/components/schemas/PatientFacts", "#/components/schemas/FhirBundle"}
    assert "PatientFacts" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_unknown_path_and_method_use_the_error_shape(client: ASGIClient) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404
    assert set(r.json()) == {"error", "message", "errors"}
    r = client.get("/api/plan")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"


def test_cors_is_off_by_default(client: ASGIClient) -> None:
    r = client.options(
        "/api/plan",
        headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_configured_origins_only(make_client: Any) -> None:
    client = make_client(cors_origins=["https://app.example.org"])
    preflight = {"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"}
    ok = client.options("/api/plan", headers=preflight)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example.org"
    other = client.post("/api/plan", json={}, headers={"Origin": "https://evil.example.org"})
    assert "access-control-allow-origin" not in other.headers


def test_healthz(client: ASGIClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_server_start_up_loads_the_knowledge_base_and_freezes_the_heap(tmp_path: Path) -> None:
    """The lifespan warms the caches and moves start-up objects out of the collector's sight,
    so that full collections under load do not walk the knowledge base again."""
    import asyncio
    import gc

    from vertebra.http import create_app
    from vertebra.settings import Settings

    load.cache_clear()
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", auth="disabled"))

    async def start_and_stop() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            return load.cache_info().currsize, gc.get_freeze_count()

    try:
        cached, frozen = asyncio.run(start_and_stop())
    finally:
        gc.unfreeze()
    assert cached == 1
    assert frozen > 0
    assert ASGIClient(app).get("/healthz").json() == {"status": "ok"}
