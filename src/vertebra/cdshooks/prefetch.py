"""Resolve the prefetch: use what the CDS Client sent, fetch what is missing.

CDS Hooks 2.0.1: a client may honour "zero, some, or all" prefetch templates. A key that is
absent was not prefetched; a key whose value is ``null`` was fetched and found nothing; a value
that is an ``OperationOutcome`` (or a searchset holding only OperationOutcomes) means the data
could not be obtained. Keys this service did not ask for are ignored, whatever their value.

Everything the service reads (every key of :data:`~vertebra.cdshooks.services.PREFETCH`) is
needed: a missing fact must never silently take the negative branch. What is missing or not
available is fetched from ``fhirServer`` (with the ``fhirAuthorization`` bearer token when one
is given, and only to that server's origin), within one total deadline per hook call
(``VERTEBRA_FHIR_TIMEOUT_SECONDS``). HTTP 412 when it cannot be: no ``fhirServer``, the server
failed, answered an error, or the deadline passed.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import quote

import httpx

from vertebra.api.errors import ApiError, invalid_input
from vertebra.cdshooks.services import PREFETCH
from vertebra.security.fetch import FetchError, get_json, origin, under
from vertebra.settings import Settings

log = logging.getLogger("vertebra.cdshooks")

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")
MAX_PAGES = 10
#: Largest FHIR response read (bytes).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


def render(template: str, context: dict[str, Any]) -> str:
    """Fill ``{{context.x}}`` tokens (URL-encoded)."""

    def sub(m: re.Match[str]) -> str:
        value = context.get(m.group(1))
        return quote(str(value), safe="") if value is not None else ""

    return _TOKEN.sub(sub, template)


def not_available(value: Any) -> bool:
    """An OperationOutcome, or a Bundle whose entries are all OperationOutcomes: the client
    says it could not get the data (not: there is none)."""
    if not isinstance(value, dict):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") != "Bundle":
        return False
    entries = value.get("entry")
    if not isinstance(entries, list) or not entries:
        return False
    return all(_is_outcome_entry(e) for e in entries)


def known(prefetch: dict[str, Any] | None) -> dict[str, Any]:
    """The prefetch keys this service asked for; any other key is ignored (CDS Hooks 2.0.1)."""
    return {k: v for k, v in (prefetch or {}).items() if k in PREFETCH}


def check_shapes(given: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors for known keys whose value is neither a FHIR resource (object) nor null."""
    return [
        {"field": f"prefetch.{key}", "message": "must be a FHIR resource (object) or null",
         "type": "type_error"}
        for key, value in given.items() if value is not None and not isinstance(value, dict)
    ]  # fmt: skip


def allowed_server(server: str, settings: Settings) -> bool:
    """``fhirServer`` parses (http(s), a host, no userinfo) and, with an allowlist, lies
    under one of its entries: same scheme, host and port, path inside the entry's path."""
    try:
        origin(server)
    except ValueError:
        return False
    allowlist = settings.fhir_server_allowlist
    return not allowlist or any(under(server, entry) for entry in allowlist)


def resolve(request: Any, http: httpx.Client, settings: Settings) -> dict[str, Any]:
    """Every prefetch key: the sent ones as sent, the missing or unavailable ones fetched
    (HTTP 412 when they cannot be)."""
    given = known(request.prefetch)
    missing = [key for key in PREFETCH if key not in given or not_available(given[key])]
    if missing:
        if request.fhirServer is None:
            raise ApiError(
                412, "prefetch_missing",
                "prefetch keys missing or not available and no fhirServer to fetch them from: "
                f"{', '.join(missing)}",
                [{"field": f"prefetch.{k}", "message": "missing or not available",
                  "type": "missing"} for k in missing],
            )  # fmt: skip
        base = str(request.fhirServer).rstrip("/")
        if not allowed_server(base, settings):
            raise invalid_input([{
                "field": "fhirServer",
                "message": "not an allowed FHIR server (VERTEBRA_FHIR_SERVER_ALLOWLIST; "
                           "http(s), no user name)",
                "type": "not_allowed"}])  # fmt: skip
        headers = {"Accept": "application/fhir+json, application/json"}
        auth = request.fhirAuthorization
        if auth is not None:
            headers["Authorization"] = f"Bearer {auth.access_token}"
        deadline = time.monotonic() + settings.fhir_timeout_seconds
        for key in missing:
            query = render(PREFETCH[key], request.context)
            given[key] = _fetch(http, base, query, headers, key, deadline)
    _check_patient(given.get("patient"), request.context.get("patientId"))
    return given


def _check_patient(patient: Any, patient_id: Any) -> None:
    if not isinstance(patient, dict):
        return
    problems = []
    if patient.get("resourceType") != "Patient":
        problems.append({"field": "prefetch.patient.resourceType", "message": "must be Patient",
                         "type": "literal_error", "allowed": ["Patient"]})  # fmt: skip
    elif patient.get("id") != patient_id:
        problems.append({"field": "prefetch.patient.id",
                         "message": "is not context.patientId: the prefetch is for another "
                                    "patient", "type": "patient_mismatch"})  # fmt: skip
    if problems:
        raise invalid_input(problems)


def _unavailable(key: str, why: str) -> ApiError:
    # The URL holds the patient id: log the prefetch key, never the URL.
    log.warning("FHIR fetch for prefetch key %s failed: %s", key, why)
    return ApiError(
        412, "fhir_fetch_failed", f"could not fetch {key} from the FHIR server ({why})",
        [{"field": f"prefetch.{key}", "message": "could not be fetched from fhirServer",
          "type": "fhir_fetch_failed"}],
    )  # fmt: skip


def _get(http: httpx.Client, url: str, headers: dict[str, str], key: str,
         deadline: float) -> tuple[int, Any]:  # fmt: skip
    try:
        return get_json(http, url, headers=headers, deadline=deadline,
                        max_bytes=MAX_RESPONSE_BYTES)  # fmt: skip
    except FetchError as exc:
        raise _unavailable(key, exc.reason) from None


def _fetch(http: httpx.Client, base: str, query: str, headers: dict[str, str], key: str,
           deadline: float) -> Any:  # fmt: skip
    status, data = _get(http, f"{base}/{query}", headers, key, deadline)
    if status == 404 and "?" not in query:
        return None  # a read of a resource that does not exist
    if status != 200:
        raise _unavailable(key, f"HTTP {status}")
    if not_available(data):
        raise _unavailable(key, "OperationOutcome")
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        return data
    entries = _entries(data, key)
    pages = 1
    next_url = _next(data)
    while next_url and pages < MAX_PAGES:
        if not under(next_url, base):
            break  # never follow a link off the FHIR server we were given (nor send it the token)
        status, body = _get(http, next_url, headers, key, deadline)
        if status != 200 or not isinstance(body, dict) or not_available(body):
            raise _unavailable(key, f"HTTP {status} on a next page")
        entries.extend(_entries(body, key))
        next_url = _next(body)
        pages += 1
    data = dict(data)
    data["entry"] = entries
    return data


def _entries(bundle: dict[str, Any], key: str) -> list[Any]:
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise _unavailable(key, "Bundle.entry is not a list")
    # a searchset may carry OperationOutcome entries (search.mode "outcome") beside matches
    return [e for e in entries if not _is_outcome_entry(e)]


def _is_outcome_entry(entry: Any) -> bool:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    return isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome"


def _next(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None
