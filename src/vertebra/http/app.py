"""The FastAPI application factory: JSON API, CDS Hooks services, (later) the web pages."""

from __future__ import annotations

import gc
import logging
import sys
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vertebra.errors import InputError
from vertebra.http.errors import ApiError, error_response, invalid_input, validation_errors
from vertebra.http.limits import BodySizeLimit, BodyTooLarge, DocsSecurityHeaders
from vertebra.http.offload import SWITCH_INTERVAL
from vertebra.http.routers.api import router as api_router
from vertebra.http.routers.ask import router as ask_router
from vertebra.http.routers.cdshooks import router as cds_router
from vertebra.http.routers.web import router as web_router
from vertebra.http.state import AppState
from vertebra.settings import Settings

log = logging.getLogger("vertebra.api")

#: Allocations between collections of the youngest generation (Python's default: 700).
GC_GEN0_THRESHOLD = 10_000

DESCRIPTION = """Cited clinical decision support for osteoporotic vertebral compression fractures.

* `POST /api/plan` — patient facts or a FHIR R4 Bundle → the plan (same JSON as the CLI).
* `POST /api/ask` — `{"question": "…"}` → a cited answer (same JSON as `vertebra ask`).
* CDS Hooks 2.0 — discovery at `GET /cds-services`.

Every error has one shape: `{"error": code, "message": text, "errors": [{field, message, type,
allowed?}]}`; invalid input is HTTP 422 naming every offending field.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. ``settings`` default to :meth:`Settings.from_env`."""
    settings = settings or Settings.from_env()
    settings.check_serving()
    logging.getLogger("vertebra").setLevel(settings.log_level)
    _redact_server_logs()
    state = AppState.build(settings)
    if not settings.auth_enabled:
        log.warning(
            "DEVELOPMENT MODE: VERTEBRA_AUTH=disabled - CDS Hooks calls are NOT authenticated. "
            "Never run like this in production."
        )
    elif not settings.trusted_issuers:
        log.warning("no VERTEBRA_TRUSTED_ISSUERS configured: every CDS Hooks call will be refused")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _warm_up()
        try:
            yield
        finally:
            state.close()

    version = _version()

    app = FastAPI(
        title="vertebra",
        version=version,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN: VERTEBRA_API_DOCS=false turns
        # them off (the OpenAPI document stays at /openapi.json); when on they get a CSP.
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.state.vertebra = state

    _install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.api_docs:
        app.add_middleware(DocsSecurityHeaders)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )

    app.include_router(api_router)
    app.include_router(ask_router)
    app.include_router(cds_router)

    @app.get("/healthz", tags=["meta"], summary="Liveness: the store answers")
    async def healthz() -> Response:
        # async and pre-encoded: no thread-pool hop, no JSON encoding per call
        return Response(b'{"status":"ok"}', media_type="application/json")

    # The web app's router (HTML pages) is included last, so the JSON API and CDS Hooks paths
    # above keep priority.
    app.include_router(web_router)
    _extend_openapi(app)
    return app


class RedactExceptions(logging.Filter):
    """Server logs keep an exception's type and stack, never its message: messages may quote
    input values (patient data). Installed on uvicorn's error logger, which logs every
    exception that escapes the app ("Exception in ASGI application")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            kind, _exc, tb = record.exc_info
            record.msg = (
                f"{record.getMessage()}: {kind.__name__} (message withheld: it may "
                f"hold patient data)\n" + "".join(traceback.format_tb(tb))
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _redact_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn", "vertebra"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactExceptions) for f in logger.filters):
            logger.addFilter(RedactExceptions())


def _warm_up() -> None:
    """Load the knowledge base and the value sets before the first request, then move every
    object alive at start-up out of the garbage collector's sight (:func:`gc.freeze`): they live
    as long as the process, and without this each full collection walks them all again (tens of
    milliseconds on the event loop, seen in the p99 latency under load).

    The youngest generation is collected every :data:`GC_GEN0_THRESHOLD` net allocations
    instead of every 700: with the default, a patient-view call (cards, FHIR resources, nearly
    all freed by reference counting) triggered about one collection (1,654 in 2,000 calls),
    ~3 % of the CPU of a plan + patient-view mix (bench/api/profile_app.py)."""
    from vertebra import terminology
    from vertebra.knowledge import load

    load()
    for valueset in terminology.available():
        terminology.load(valueset)
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    sys.setswitchinterval(SWITCH_INTERVAL)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vertebra")
    except PackageNotFoundError:
        return "0+unknown"


def _extend_openapi(app: FastAPI) -> None:
    """Add the schemas referenced by the hand-written request bodies."""
    from vertebra.facts import facts_json_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        facts = facts_json_schema()
        defs = facts.pop("$defs", {})
        components.update(defs)
        components["PatientFacts"] = _rebase(facts)
        components["FhirBundle"] = {
            "type": "object",
            "description": "A FHIR R4 Bundle (or a single resource) with the patient's data",
            "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]}},
            "additionalProperties": True,
        }
        from vertebra.cdshooks.openapi import extend

        extend(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rebase(schema: Any) -> Any:
    """Point ``#/$defs/X`` references at ``#/components/schemas/X``."""
    if isinstance(schema, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.errors, exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        error = invalid_input(exc.errors)
        return error_response(error.status, error.code, error.message, error.errors)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(
            413, "body_too_large", f"request body exceeds the limit of {exc.limit} bytes"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return error_response(422, "invalid_input", f"invalid fields: {fields}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Log the type and the route only: request bodies may hold patient data.
        # The exception's message may quote input values, so only its type and frames.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "internal error on %s %s: %s\n%s",
            request.method,
            request.url.path,
            type(exc).__name__,
            frames,
        )
        return error_response(500, "internal_error", "internal error; see the server log")
