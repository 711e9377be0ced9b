"""The README's local CDS Hooks recipe works as written: scripts/sign-test-jwt makes a key, its
JWKS and issuers.json, and signs a call that the real app accepts once."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from vertebra.http import create_app
from vertebra.http.testing import ASGIClient
from vertebra.settings import Settings

SCRIPT = ROOT / "scripts" / "sign-test-jwt"
URL = "http://testserver/cds-services/vertebra-patient-view"


def run(*args: str) -> str:
    out = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_sign_test_jwt_recipe(tmp_path: Path) -> None:
    folder = tmp_path / "cds"
    run("init", str(folder))
    issuers = json.loads((folder / "issuers.json").read_text(encoding="utf-8"))
    assert issuers[0]["iss"] == "https://ehr.local.test"
    assert "d" not in json.loads((folder / "ehr-jwks.json").read_text())["keys"][0]  # public only
    settings = Settings.from_mapping(
        {
            "VERTEBRA_TRUSTED_ISSUERS_FILE": str(folder / "issuers.json"),
            "VERTEBRA_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
            "VERTEBRA_PUBLIC_BASE_URL": "http://testserver",
        }
    )
    client = ASGIClient(create_app(settings))
    try:
        body: Any = json.loads((ROOT / "examples" / "cds-hooks" / "patient-view.json").read_text())
        path = "/cds-services/vertebra-patient-view"
        assert client.post(path, json=body).status_code == 401  # no token: refused
        token = run("token", URL, str(folder))
        headers = {"Authorization": f"Bearer {token}"}
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cards"]
        assert client.post(path, json=body, headers=headers).status_code == 401  # replay
    finally:
        client.app.state.vertebra.close()
