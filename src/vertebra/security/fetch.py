"""Outbound HTTP fetches with a total deadline, a size cap and exact origin checks.

Used for the JWKS of trusted issuers and for CDS Hooks FHIR fetches. httpx's timeouts apply to
each network operation (connect, each read); a server dripping one byte per second never trips
a 10 s read timeout. :func:`get_json` streams the body and checks one deadline for the whole
call (connect + headers + every chunk), and refuses bodies over ``max_bytes``.

Origins are compared parsed (scheme, host, port), never as string prefixes: ``http://127.0.0.1``
is not ``http://127.0.0.10:9102``, and ``http://a@b/`` (userinfo) is refused outright.
"""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """A fetch failed; ``reason`` is safe to log (no URL: it may hold a patient id)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def origin(url: str) -> Origin:
    """The (scheme, host, port) of an absolute http(s) URL; :class:`ValueError` for anything
    else, and for URLs with userinfo (``user:pw@host``) or without a host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("not an http(s) URL")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError("URLs with userinfo are not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the URL has no host")
    port = parts.port  # ValueError for a bad port
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def same_origin(url: str, base: str) -> bool:
    """True when both URLs parse and have exactly the same scheme, host and port."""
    try:
        return origin(url) == origin(base)
    except ValueError:
        return False


def under(url: str, base: str) -> bool:
    """Same origin as ``base`` and a path inside ``base``'s path (segment-wise)."""
    if not same_origin(url, base):
        return False
    path = urlsplit(url).path.rstrip("/")
    prefix = urlsplit(base).path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def get_json(
    client: httpx.Client,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    deadline: float,
    max_bytes: int,
) -> tuple[int, Any]:
    """``(status, parsed JSON)`` of a GET, within the absolute ``deadline`` (``time.monotonic``).

    :class:`FetchError` on a network error, the deadline passing, a body over ``max_bytes`` or
    a body that is not JSON. Redirects are not followed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("deadline passed")
    timeout = httpx.Timeout(remaining)
    sent = {"Accept-Encoding": "identity", **(headers or {})}
    try:
        with client.stream(
            "GET", url, headers=sent, timeout=timeout, follow_redirects=False
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"response over {max_bytes} bytes", response.status_code)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise FetchError("deadline passed", response.status_code)
            status = response.status_code
            raw = b"".join(chunks)
            encoding = response.headers.get("content-encoding", "identity").lower()
    except httpx.TimeoutException:
        raise FetchError("deadline passed") from None
    except httpx.HTTPError as exc:
        raise FetchError(type(exc).__name__) from None
    if encoding not in ("identity", ""):
        raise FetchError(f"unsupported content encoding {encoding}", status)
    if time.monotonic() > deadline:
        raise FetchError("deadline passed", status)
    if status >= 400 and not raw.strip():
        return status, None
    try:
        return status, json.loads(raw)
    except (ValueError, RecursionError):
        raise FetchError("response is not JSON", status) from None
