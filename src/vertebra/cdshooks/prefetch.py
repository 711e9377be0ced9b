"""Resolve the prefetch: use what the CDS Client sent, fetch what is missing.

Keys in ``OPTIONAL_PREFETCH`` are fetched when FHIR access is given and otherwise left out.

CDS Hooks 2.0: a prefetch key that is absent was not prefetched (the service may fetch it with
``fhirServer`` and ``fhirAuthorization``); a key whose value is ``null`` was fetched and found
nothing. Without FHIR access, missing prefetch is answered with HTTP 412.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

from vertebra.cdshooks.services import OPTIONAL_PREFETCH, PREFETCH
from vertebra.errors import FieldError, field_error
from vertebra.settings import Settings

log = logging.getLogger("vertebra.cdshooks")

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")
MAX_PAGES = 10


class PrefetchError(Exception):
    """The prefetch cannot be completed; ``status`` is the HTTP status to answer with (412 no
    FHIR access, 422 server not allowed, 502 fetch failed)."""

    def __init__(self, status: int, code: str, message: str, errors: list[FieldError]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


def render(template: str, context: dict[str, Any]) -> str:
    """Fill ``{{context.x}}`` tokens (URL-encoded)."""

    def sub(m: re.Match[str]) -> str:
        value = context.get(m.group(1))
        return quote(str(value), safe="") if value is not None else ""

    return _TOKEN.sub(sub, template)


def resolve(request: Any, http: httpx.Client, settings: Settings) -> dict[str, Any]:
    """Every prefetch key, the sent ones as sent, the missing ones fetched (or HTTP 412)."""
    given: dict[str, Any] = dict(request.prefetch or {})
    missing = [key for key in PREFETCH if key not in given]
    if not missing:
        return given
    auth = request.fhirAuthorization
    if request.fhirServer is None or auth is None:
        missing = [key for key in missing if key not in OPTIONAL_PREFETCH]
        if not missing:
            return given  # only optional keys missing: read without them
        raise PrefetchError(
            412,
            "prefetch_missing",
            "prefetch keys missing and no FHIR server access given (fhirServer and "
            f"fhirAuthorization): {', '.join(missing)}",
            [field_error(f"prefetch.{k}", "missing", "missing") for k in missing],
        )
    base = str(request.fhirServer).rstrip("/")
    if settings.fhir_server_allowlist and not any(
        base.startswith(prefix.rstrip("/")) for prefix in settings.fhir_server_allowlist
    ):
        raise PrefetchError(
            422, "invalid_input", "fhirServer is not an allowed FHIR server",
            [field_error("fhirServer", "not in VERTEBRA_FHIR_SERVER_ALLOWLIST", "not_allowed")],
        )
    headers = {
        "Authorization": f"Bearer {auth.access_token}",
        "Accept": "application/fhir+json, application/json",
    }
    for key in missing:
        try:
            given[key] = _fetch(http, base, render(PREFETCH[key], request.context), headers, key)
        except PrefetchError:
            if key not in OPTIONAL_PREFETCH:
                raise
            log.warning("optional prefetch key %s not fetched: read without it", key)
    return given


def _fetch(http: httpx.Client, base: str, query: str, headers: dict[str, str], key: str) -> Any:
    url = f"{base}/{query}"
    try:
        response = http.get(url, headers=headers)
        if response.status_code == 404 and "?" not in query:
            return None
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            return data
        entries = list(data.get("entry") or [])
        pages = 1
        next_url = _next(data)
        while next_url and pages < MAX_PAGES:
            if not next_url.startswith(base):
                break  # never follow a link off the FHIR server we were given
            page = http.get(next_url, headers=headers)
            page.raise_for_status()
            body = page.json()
            entries.extend(body.get("entry") or [])
            next_url = _next(body)
            pages += 1
        data = dict(data)
        data["entry"] = entries
        return data
    except (httpx.HTTPError, ValueError) as exc:
        # The URL holds the patient id: log the prefetch key, never the URL.
        log.warning("FHIR fetch for prefetch key %s failed: %s", key, type(exc).__name__)
        raise PrefetchError(
            502, "fhir_fetch_failed", f"could not fetch {key} from the FHIR server",
            [field_error(f"prefetch.{key}", "FHIR server fetch failed", "fhir_fetch_failed")],
        ) from None


def _next(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None
