"""Resolve the prefetch: use what the CDS Client sent, fetch what is missing.

CDS Hooks 2.0.1: a client may honour "zero, some, or all" prefetch templates. A key that is
absent was not prefetched; a key whose value is ``null`` was fetched and found nothing; a value
that is an ``OperationOutcome`` (or a searchset holding only OperationOutcomes) means the data
could not be obtained. Keys this service did not ask for are never refused: a FHIR resource or
Bundle under one is read with the rest (e.g. DiagnosticReports for the report-text reader), any
other value is ignored (:func:`extra`).

Everything the service reads (every key of :data:`~vertebra.cdshooks.services.PREFETCH`) is
needed, except the keys in :data:`~vertebra.cdshooks.services.OPTIONAL_PREFETCH`: a missing fact
must never silently take the negative branch. An optional key is fetched when ``fhirServer`` is
given; when it is missing without one, or its fetch fails, the plan is made without it (what it
would add stays unknown). What is missing or not available is fetched from ``fhirServer`` (with
the ``fhirAuthorization`` bearer token when one is given, and only to that server's origin),
within one total deadline per hook call (``VERTEBRA_FHIR_TIMEOUT_SECONDS``). :class:`PrefetchError`
(HTTP 412) when a needed key cannot be: no ``fhirServer``, the server failed, answered an error,
or the deadline passed.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import quote

import httpx

from vertebra.cdshooks.services import OPTIONAL_PREFETCH, PREFETCH
from vertebra.errors import FieldError, InputError, field_error
from vertebra.security.fetch import FetchError, get_json, origin, under
from vertebra.settings import Settings

log = logging.getLogger("vertebra.cdshooks")

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")
MAX_PAGES = 10
#: Largest FHIR response read (bytes).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class PrefetchError(Exception):
    """The prefetch cannot be completed; ``status`` is the HTTP status to answer with (412: no
    fhirServer to fetch a needed key from, or its fetch failed)."""

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
    """The prefetch keys this service asked for (checked, fetched when missing)."""
    return {k: v for k, v in (prefetch or {}).items() if k in PREFETCH}


def extra(prefetch: dict[str, Any] | None) -> dict[str, Any]:
    """Keys this service did not ask for whose value is a FHIR resource or Bundle (such as
    DiagnosticReports a client sends for the report-text reader): read with the rest, never
    fetched. Any other unknown key is ignored, whatever its value (CDS Hooks 2.0.1; the spec's
    own example has ``"user": "123"``)."""
    return {
        k: v
        for k, v in (prefetch or {}).items()
        if k not in PREFETCH
        and isinstance(v, dict)
        and isinstance(v.get("resourceType"), str)
        and not not_available(v)
    }


def check_shapes(given: dict[str, Any]) -> list[FieldError]:
    """Errors for known keys whose value is neither a FHIR resource (object) nor null."""
    message = "must be a FHIR resource (object) or null"
    return [
        field_error(f"prefetch.{key}", message, "type_error")
        for key, value in given.items()
        if value is not None and not isinstance(value, dict)
    ]


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
    (:class:`PrefetchError`, HTTP 412, when a needed one cannot be; an optional one is then
    left out)."""
    given = known(request.prefetch)
    missing = [key for key in PREFETCH if key not in given or not_available(given[key])]
    if request.fhirServer is None:
        needed = [key for key in missing if key not in OPTIONAL_PREFETCH]
        if needed:
            raise PrefetchError(
                412,
                "prefetch_missing",
                "prefetch keys missing or not available and no fhirServer to fetch them from: "
                f"{', '.join(needed)}",
                [
                    field_error(f"prefetch.{k}", "missing or not available", "missing")
                    for k in needed
                ],
            )
        missing = []  # only optional keys: read without them
    if missing:
        base = str(request.fhirServer).rstrip("/")
        if not allowed_server(base, settings):
            raise InputError.one(
                "fhirServer",
                "not an allowed FHIR server (VERTEBRA_FHIR_SERVER_ALLOWLIST; http(s), no user "
                "name)",
                "not_allowed",
            )
        headers = {"Accept": "application/fhir+json, application/json"}
        auth = request.fhirAuthorization
        if auth is not None:
            headers["Authorization"] = f"Bearer {auth.access_token}"
        deadline = time.monotonic() + settings.fhir_timeout_seconds
        for key in missing:
            query = render(PREFETCH[key], request.context)
            try:
                given[key] = _fetch(http, base, query, headers, key, deadline)
            except PrefetchError:
                if key not in OPTIONAL_PREFETCH:
                    raise
                log.warning("optional prefetch key %s not fetched: read without it", key)
                given.pop(key, None)
    for key in OPTIONAL_PREFETCH:  # sent as not available and not fetched: read without it
        if key in given and not_available(given[key]):
            del given[key]
    _check_patient(given.get("patient"), request.context.get("patientId"))
    return {**extra(request.prefetch), **given}


def _check_patient(patient: Any, patient_id: Any) -> None:
    if not isinstance(patient, dict):
        return
    if patient.get("resourceType") != "Patient":
        raise InputError.one(
            "prefetch.patient.resourceType", "must be Patient", "literal_error", ["Patient"]
        )
    if patient.get("id") != patient_id:
        raise InputError.one(
            "prefetch.patient.id",
            "is not context.patientId: the prefetch is for another patient",
            "patient_mismatch",
        )


def _unavailable(key: str, why: str) -> PrefetchError:
    # The URL holds the patient id: log the prefetch key, never the URL.
    log.warning("FHIR fetch for prefetch key %s failed: %s", key, why)
    return PrefetchError(
        412,
        "fhir_fetch_failed",
        f"could not fetch {key} from the FHIR server ({why})",
        [
            field_error(
                f"prefetch.{key}", "could not be fetched from fhirServer", "fhir_fetch_failed"
            )
        ],
    )


def _get(
    http: httpx.Client, url: str, headers: dict[str, str], key: str, deadline: float
) -> tuple[int, Any]:
    try:
        return get_json(http, url, headers=headers, deadline=deadline, max_bytes=MAX_RESPONSE_BYTES)
    except FetchError as exc:
        raise _unavailable(key, exc.reason) from None


def _fetch(
    http: httpx.Client, base: str, query: str, headers: dict[str, str], key: str, deadline: float
) -> Any:
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
