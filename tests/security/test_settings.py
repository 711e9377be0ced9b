"""Production settings: one environment or one KEY=VALUE file, errors name the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vertebra.security.devkeys import EhrSigner
from vertebra.settings import Settings, SettingsError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "vertebra.env.example"


def test_config_file_then_environment(tmp_path: Path) -> None:
    signer = EhrSigner()
    jwks = tmp_path / "ehr-jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps([{"iss": signer.iss, "jwks_file": str(jwks)}]))
    config = tmp_path / "vertebra.env"
    config.write_text(
        "# production\n"
        "VERTEBRA_DATABASE_URL=postgresql+psycopg://vertebra@db/vertebra\n"
        f"export VERTEBRA_TRUSTED_ISSUERS_FILE='{issuers}'\n"
        'VERTEBRA_CORS_ORIGINS="https://ehr.example.org, https://app.example.org"\n'
        "VERTEBRA_AUDIT_STORE_FACTS=false\n"
        "VERTEBRA_MAX_BODY_BYTES=1000000\n"
    )
    settings = Settings.from_env(
        {
            "VERTEBRA_CONFIG": str(config),
            "VERTEBRA_MAX_BODY_BYTES": "2000000",  # the environment wins
            "PATH": "/usr/bin",
        }
    )
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.trusted_issuers[0].jwks_file == str(jwks)
    assert settings.cors_origins == ["https://ehr.example.org", "https://app.example.org"]
    assert settings.max_body_bytes == 2_000_000
    assert settings.auth_enabled


def test_defaults_are_secure() -> None:
    settings = Settings.from_env({})
    assert settings.auth == "jwt"
    assert settings.cors_origins == []
    assert settings.audit_store_facts is False
    assert settings.database_url.startswith("sqlite:///")
    assert "HS256" not in settings.jwt_algorithms


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VERTEBRA_AUTH": "off"}, "VERTEBRA_AUTH"),
        ({"VERTEBRA_MAX_BODY_BYTES": "-1"}, "VERTEBRA_MAX_BODY_BYTES"),
        ({"VERTEBRA_TRUSTED_ISSUERS": "[{"}, "VERTEBRA_TRUSTED_ISSUERS"),
        ({"VERTEBRA_TRUSTED_ISSUERS": '[{"iss": "x"}]'}, "VERTEBRA_TRUSTED_ISSUERS"),
        ({"VERTEBRA_AUDIT_STORE_FACTS": "maybe"}, "VERTEBRA_AUDIT_STORE_FACTS"),
        ({"VERTEBRA_DATABSE_URL": "sqlite://"}, "VERTEBRA_DATABSE_URL"),
        ({"VERTEBRA_CONFIG": "/nonexistent/vertebra.env"}, "VERTEBRA_CONFIG"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    settings = Settings.from_env({"VERTEBRA_CONFIG": str(EXAMPLE)})
    assert settings.auth_enabled
    assert settings.trusted_issuers
    assert settings.public_base_url
