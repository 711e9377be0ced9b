"""Server settings: one environment, or one ``KEY=VALUE`` file named by ``VERTEBRA_CONFIG``.

Every setting is an environment variable ``VERTEBRA_<NAME>``. In production put them all in one
file (see ``deploy/vertebra.env.example``) and start the server with
``VERTEBRA_CONFIG=/etc/vertebra/vertebra.env vertebra serve``; variables set in the real
environment override the file. Invalid settings stop the server with a message that names the
variable.

============================== ==========================================================
``VERTEBRA_DATABASE_URL``      SQLAlchemy URL; default a SQLite file in the user data dir
``VERTEBRA_AUTH``              ``jwt`` (default) or ``disabled`` (development only; logged)
``VERTEBRA_TRUSTED_ISSUERS``   JSON list of ``{iss, jwks_url | jwks | jwks_file, subjects?}``
``VERTEBRA_TRUSTED_ISSUERS_FILE`` the same JSON list in a file
``VERTEBRA_PUBLIC_BASE_URL``   external base URL (for the JWT ``aud``) behind a proxy
``VERTEBRA_CORS_ORIGINS``      comma-separated allowed origins (``*`` for any)
``VERTEBRA_MAX_BODY_BYTES``    largest accepted request body (default 5 MiB)
``VERTEBRA_AUDIT_STORE_FACTS`` ``true`` to keep raw patient facts in the audit record
``VERTEBRA_AUDIT_HASH_KEY``    secret key: input hashes become HMAC-SHA256 (recommended)
``VERTEBRA_FHIR_SERVER_ALLOWLIST`` comma-separated URL prefixes hooks may fetch from
``VERTEBRA_FHIR_TIMEOUT_SECONDS`` total deadline of all FHIR fetches of one hook call
                               (default 10)
``VERTEBRA_JWKS_TIMEOUT_SECONDS`` total deadline of one JWKS fetch (default 5)
``VERTEBRA_MAX_JSON_DEPTH``    deepest JSON nesting accepted in a request (default 64)
``VERTEBRA_MAX_BUNDLE_RESOURCES`` most resources in one Bundle / prefetch (default 10000); on
                               ``/api/plan`` also counted before parsing: the body's
                               ``"resourceType"`` keys less one (contained resources count)
``VERTEBRA_MAX_CONDITIONS``    most Conditions considered per patient (default 2000)
``VERTEBRA_MAX_OBSERVATIONS``  most Observations considered per patient (default 5000)
``VERTEBRA_MAX_QUESTION_CHARS`` longest ``/api/ask`` question (default 1000)
``VERTEBRA_PLAN_THREADS``      large plan requests planned at once, off the loop (default 2)
``VERTEBRA_MAX_HEADER_BYTES``  largest request head: request line + headers (default 16384)
``VERTEBRA_HEADER_TIMEOUT_SECONDS`` time to send the request head (default 10)
``VERTEBRA_BODY_TIMEOUT_SECONDS`` time to send the request body (default 30)
``VERTEBRA_KEEPALIVE_SECONDS`` idle keep-alive connection timeout (default 5)
``VERTEBRA_WEB_WRITES``        ``false``: state-changing web routes (POST /fls/demo) answer 403
``VERTEBRA_API_DOCS``          ``false``: no /docs and /redoc (they load Swagger UI / ReDoc
                               from a CDN)
``VERTEBRA_JWT_ALGORITHMS``    comma-separated allowed algorithms (asymmetric only)
``VERTEBRA_JWT_LEEWAY_SECONDS`` clock skew allowed on ``exp``/``iat`` (default 30)
``VERTEBRA_JWT_MAX_LIFETIME_SECONDS`` largest ``exp - iat`` accepted (default 600)
``VERTEBRA_JWKS_CACHE_SECONDS`` how long fetched JWKS are kept (default 3600)
``VERTEBRA_LOG_LEVEL``         ``DEBUG`` … ``ERROR`` (default ``INFO``)
``VERTEBRA_FLS_DIR``           fracture liaison results (``screen --out`` default, read by ``/fls``)
============================== ==========================================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PREFIX = "VERTEBRA_"

#: Asymmetric JWS algorithms (CDS Hooks requires ES384 and RS384; HMAC and ``none`` never).
ASYMMETRIC_ALGORITHMS: tuple[str, ...] = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)


class SettingsError(ValueError):
    """A setting is invalid; the message names the environment variable."""


def default_database_url() -> str:
    """A SQLite file in ``$XDG_DATA_HOME/vertebra`` (``~/.local/share/vertebra``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'vertebra' / 'vertebra.sqlite3'}"


def fls_folder() -> Path:
    """The fracture liaison results folder: the default of ``vertebra screen --out`` and the
    folder the web app's ``/fls`` page reads. ``$VERTEBRA_FLS_DIR`` if set, else
    ``$VERTEBRA_DATA_DIR/fls`` if that is set, else ``fls`` in the current directory (where the
    README's commands and ``scripts/start`` run)."""
    explicit = os.environ.get("VERTEBRA_FLS_DIR")
    if explicit:
        return Path(explicit)
    data = os.environ.get("VERTEBRA_DATA_DIR")
    if data:
        return Path(data) / "fls"
    return Path("fls")


class TrustedIssuer(BaseModel):
    """An EHR allowed to call the CDS Hooks services, and where its public keys are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_file: str | None = None
    subjects: list[str] | None = Field(
        default=None, description="Allowed ``sub`` (client ids); None allows any"
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuer:
        given = [x for x in (self.jwks_url, self.jwks, self.jwks_file) if x is not None]
        if len(given) != 1:
            raise ValueError(f"issuer {self.iss!r}: give exactly one of jwks_url, jwks, jwks_file")
        return self


class Settings(BaseModel):
    """Everything the server can be configured with (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(default_factory=default_database_url)
    auth: Literal["jwt", "disabled"] = "jwt"
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    public_base_url: str | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    audit_store_facts: bool = False
    audit_hash_key: str | None = None
    fhir_server_allowlist: list[str] = Field(default_factory=list)
    fhir_timeout_seconds: float = Field(default=10.0, gt=0)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0)
    max_json_depth: int = Field(default=64, ge=8, le=500)
    max_bundle_resources: int = Field(default=10_000, gt=0)
    max_conditions: int = Field(default=2_000, gt=0)
    max_observations: int = Field(default=5_000, gt=0)
    max_question_chars: int = Field(default=1_000, gt=0)
    plan_threads: int = Field(default=2, ge=1, le=64)
    max_header_bytes: int = Field(default=16_384, ge=1024)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    keepalive_seconds: float = Field(default=5.0, gt=0)
    web_writes: bool = True
    api_docs: bool = True
    jwt_algorithms: list[str] = Field(default_factory=lambda: list(ASYMMETRIC_ALGORITHMS))
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwt_max_lifetime_seconds: int = Field(default=600, gt=0)
    jwks_cache_seconds: int = Field(default=3600, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ValueError(
                f"only asymmetric algorithms are allowed ({', '.join(ASYMMETRIC_ALGORITHMS)}); "
                f"not {', '.join(bad)}"
            )
        if not value:
            raise ValueError("at least one algorithm is needed")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if not value:
            return value
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ValueError("must be an http(s) URL with a host and no user name")
        return value.rstrip("/")

    def check_serving(self) -> None:
        """What the server refuses to start with (:class:`SettingsError`).

        JWT mode with trusted issuers needs ``VERTEBRA_PUBLIC_BASE_URL``: it is the JWT
        audience. Without it ``aud`` could only be checked against the URL the client asked
        for - its ``Host`` header, which the client chooses."""
        if self.auth == "jwt" and self.trusted_issuers and not self.public_base_url:
            raise SettingsError(
                f"{PREFIX}PUBLIC_BASE_URL is required with {PREFIX}AUTH=jwt and trusted "
                "issuers: it is the JWT audience (the external URL the EHR calls)"
            )

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "jwt"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``VERTEBRA_CONFIG`` (if set) then the environment, which wins."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, str] = {}
        config = env.get(f"{PREFIX}CONFIG")
        if config:
            values.update(read_env_file(Path(config)))
        values.update({k: v for k, v in env.items() if k.startswith(PREFIX)})
        values.pop(f"{PREFIX}CONFIG", None)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Build settings from ``VERTEBRA_*`` strings; unknown ``VERTEBRA_*`` names are errors."""
        data: dict[str, Any] = {}
        for key, raw in values.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX) :].lower()
            if name in _IGNORED:
                continue
            if name == "trusted_issuers_file":
                data["trusted_issuers"] = _json(key, _read(key, raw))
            elif name not in cls.model_fields:
                raise SettingsError(f"{key}: unknown setting")
            elif name == "trusted_issuers":
                data[name] = _json(key, raw)
            elif name in _LISTS:
                data[name] = [p.strip() for p in raw.split(",") if p.strip()]
            elif name in _BOOLS:
                data[name] = _bool(key, raw)
            elif raw.strip() == "" and name in _OPTIONAL:
                data[name] = None
            else:
                data[name] = raw.strip()
        try:
            return cls.model_validate(data, strict=False)
        except ValidationError as exc:
            problems = []
            for err in exc.errors(include_url=False):
                if not err["loc"]:
                    problems.append(str(err["msg"]).removeprefix("Value error, "))
                    continue
                field = str(err["loc"][0])
                rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"][1:])
                problems.append(f"{PREFIX}{field.upper()}{rest}: {err['msg']}")
            raise SettingsError("; ".join(problems)) from None


# Names read by other parts of vertebra (or the test harness), not by the server settings.
_IGNORED = frozenset({"test_postgres_url", "home", "data_dir", "fls_dir"})
_LISTS = frozenset({"cors_origins", "fhir_server_allowlist", "jwt_algorithms"})
_BOOLS = frozenset({"audit_store_facts", "web_writes", "api_docs"})
_OPTIONAL = frozenset({"public_base_url", "audit_hash_key"})


def _bool(key: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{key}: expected true or false, got {raw!r}")


def _json(key: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{key}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _read(key: str, raw: str) -> str:
    try:
        return Path(raw).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{key}: cannot read {raw}: {exc.strerror}") from None


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``KEY=VALUE`` file: ``#`` comments, blank lines, optional ``export``, quotes."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{PREFIX}CONFIG: cannot read {path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out
