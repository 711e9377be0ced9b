"""Property-based tests from the published OpenAPI: no input makes the server fail (5xx)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from vertebra.http import create_app
from vertebra.settings import Settings

_DB = Path(tempfile.mkdtemp(prefix="vertebra-schemathesis-")) / "audit.sqlite3"
# Development mode so that generated hook calls reach the service code (JWT checks have their
# own tests in tests/security); everything else as in production.
# Generated fhirServer URLs are refused by the allowlist: no request ever leaves the machine.
APP = create_app(
    Settings(
        database_url=f"sqlite:///{_DB}",
        auth="disabled",
        fhir_server_allowlist=["http://127.0.0.1:9/"],
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

# schemathesis drives ASGI apps through starlette.testclient, which warns about its own use
# of httpx (a Starlette deprecation, not ours).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Using `httpx` with `starlette.testclient` is deprecated:DeprecationWarning"
)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, f"{case.method} {case.path}: HTTP {response.status_code}"
