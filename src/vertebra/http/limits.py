"""Request limits: oversized bodies (HTTP 413) refused before they are read into memory, and
per-connection limits on the request head's size and the time to send head and body."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertebra.errors import field_error
from vertebra.http.errors import ApiError
from vertebra.settings import Settings

log = logging.getLogger("vertebra.api")

#: Request bodies up to this size are planned on the event loop (patient facts, a small
#: Bundle: a few ms); bigger ones on worker threads, ``VERTEBRA_PLAN_THREADS`` at a time
#: (:mod:`vertebra.http.offload`).
INLINE_BYTES = 64 * 1024


def check_counts(resources: Any, settings: Settings, field_name: str) -> None:
    """HTTP 413 naming the limit when a Bundle holds more resources, Conditions or Observations
    than the server considers for one patient (``VERTEBRA_MAX_BUNDLE_RESOURCES`` …)."""
    if isinstance(resources, dict):
        entries = resources.get("entry")
        items = (
            [e.get("resource") if isinstance(e, dict) else None for e in entries]
            if isinstance(entries, list)
            else []
        )
    elif isinstance(resources, list):
        items = resources
    else:
        return
    limits = (
        (None, settings.max_bundle_resources, "VERTEBRA_MAX_BUNDLE_RESOURCES", "resources"),
        ("Condition", settings.max_conditions, "VERTEBRA_MAX_CONDITIONS", "Conditions"),
        ("Observation", settings.max_observations, "VERTEBRA_MAX_OBSERVATIONS", "Observations"),
    )
    for rtype, limit, name, noun in limits:
        count = (
            len(items)
            if rtype is None
            else sum(1 for r in items if isinstance(r, dict) and r.get("resourceType") == rtype)
        )
        if count > limit:
            raise too_many(field_name, f"{count} {noun}", limit, noun, name)


def too_many(field_name: str, holds: str, limit: int, noun: str, setting: str) -> ApiError:
    """The 413 for a count over one of the limits: the message says what ``field_name``
    ``holds``, the field error the limit and the ``setting`` that sets it."""
    return ApiError(
        413,
        "too_many_resources",
        f"{field_name} holds {holds}; the limit is {limit} ({setting})",
        [field_error(field_name, f"more than {limit} {noun} ({setting})", "too_many_resources")],
    )


#: ``"resourceType"`` as an object key in raw JSON (a colon after it: a string value
#: "resourceType" is not a key) ...
_RESOURCE_KEY = re.compile(rb'"resourceType"\s*:')
#: ... and the same inside a string (an escaped quote before it). Two patterns that start with a
#: literal (fast to search: ~4 ms on 4.7 MB) rather than one with a look-behind (~38 ms).
_ESCAPED_KEY = re.compile(rb'\\"resourceType"\s*:')


def raw_resource_count(body: bytes) -> int:
    """The resources in a JSON body besides the top-level one, counted before parsing: the
    ``"resourceType"`` object keys in the raw bytes, less one. Contained resources and the
    resources of nested Bundles count too (each has its own key), so this is an upper bound of
    the entries :func:`check_counts` counts after parsing (0 for a body without any). The word
    in string values does not count: a quote inside a string is escaped (``\\"``)."""
    keys = len(_RESOURCE_KEY.findall(body)) - len(_ESCAPED_KEY.findall(body))
    return max(0, keys - 1)


def check_raw_count(body: bytes, settings: Settings, field_name: str = "entry") -> None:
    """HTTP 413 naming ``VERTEBRA_MAX_BUNDLE_RESOURCES`` before the body is parsed, when it
    holds more resources than that besides the top-level one (:func:`raw_resource_count`): a
    4.7 MB Bundle of 16,000 Conditions is refused in ~4 ms instead of after ~50 ms of parsing.
    The check comes before parsing, so such a body is refused with 413 even when it is not
    valid JSON (as a body over ``VERTEBRA_MAX_BODY_BYTES`` is)."""
    limit = settings.max_bundle_resources
    # bytes.count is a fast upper bound of the keys (it also counts string values and escaped
    # quotes); the exact count only when it is over the limit
    if body.count(b'"resourceType"') - 1 <= limit:
        return
    count = raw_resource_count(body)
    if count > limit:
        holds = f"{count} resources (besides the top-level one, contained resources included)"
        raise too_many(field_name, holds, limit, "resources", "VERTEBRA_MAX_BUNDLE_RESOURCES")


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


def too_large_body(limit: int) -> bytes:
    return json.dumps(
        {
            "error": "body_too_large",
            "message": f"request body exceeds the limit of {limit} bytes",
            "errors": [],
        }
    ).encode()


class BodySizeLimit:
    """ASGI middleware: a declared ``Content-Length`` over the limit is refused at once;
    a streamed body is counted and :class:`BodyTooLarge` raised when it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await _refuse(send, self.max_bytes)
                    return
        seen = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, limit: int) -> None:
    body = too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- connection limits (uvicorn protocol) -------------------------------------------------------


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps(
        {"error": reason.lower().replace(" ", "_"), "message": message, "errors": []}
    ).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def limited_protocol(
    max_header_bytes: int, header_timeout: float, body_timeout: float
) -> type[asyncio.Protocol]:
    """uvicorn's httptools HTTP/1.1 protocol with limits it lacks (slowloris, huge headers):

    * the request head (request line + headers) may not exceed ``max_header_bytes``: 431 and
      the connection is closed, before more is buffered;
    * the head must arrive within ``header_timeout`` seconds of the connection (or of the
      first byte of a keep-alive request): else 408 and close;
    * the body must arrive within ``body_timeout`` seconds of the head: else 408 (or a plain
      close when the answer has started) - the app then sees ``http.disconnect``.

    The idle keep-alive timeout is uvicorn's own (``timeout_keep_alive``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class LimitedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes = 0
            self._reading_head = True
            self._body_timer: asyncio.TimerHandle | None = None
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
                header_timeout, self._head_expired
            )

        def data_received(self, data: bytes) -> None:
            if self._reading_head:
                self._head_bytes += len(data)
                if self._head_timer is None:  # first bytes of a keep-alive request
                    self._head_timer = self.loop.call_later(header_timeout, self._head_expired)
            super().data_received(data)
            if (
                self._reading_head
                and self._head_bytes > max_header_bytes
                and not self.transport.is_closing()
            ):
                log.warning("request head over %d bytes: 431, connection closed", max_header_bytes)
                self._close_with(
                    431,
                    "Request Header Fields Too Large",
                    f"request head exceeds {max_header_bytes} bytes",
                )

        def on_headers_complete(self) -> None:
            self._reading_head = False
            self._cancel_head()
            super().on_headers_complete()
            self._body_timer = self.loop.call_later(body_timeout, self._body_expired)

        def on_message_complete(self) -> None:
            self._cancel_body()
            self._reading_head = True
            self._head_bytes = 0
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head()
            self._cancel_body()
            super().connection_lost(exc)

        # -- internals ------------------------------------------------------------------

        def _cancel_head(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _cancel_body(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _head_expired(self) -> None:
            self._head_timer = None
            if self._reading_head and not self.transport.is_closing():
                if self._head_bytes:
                    log.warning("request head not received within %.0f s: 408", header_timeout)
                    self._close_with(408, "Request Timeout", "request head too slow")
                else:  # a connection that never sent anything
                    self.transport.close()

        def _body_expired(self) -> None:
            self._body_timer = None
            if self.transport.is_closing():
                return
            log.warning("request body not received within %.0f s: closed", body_timeout)
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                cycle.response_started = True  # the app's own answer will not be sent
                cycle.response_complete = True
                self._close_with(408, "Request Timeout", "request body too slow")
            else:
                self.transport.close()

        def _close_with(self, status: int, reason: str, message: str) -> None:
            self.transport.write(_raw_response(status, reason, message))
            self.transport.close()

    return LimitedHttpToolsProtocol


def __getattr__(name: str) -> Any:
    """``vertebra.http.limits:LimitedProtocol``: :func:`limited_protocol` with the limits of
    the environment's settings, importable by name (uvicorn's own ``--workers`` imports its
    ``--http`` protocol class by name in each worker process)."""
    if name == "LimitedProtocol":
        settings = Settings.from_env()
        protocol = limited_protocol(
            settings.max_header_bytes,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
        )
        globals()[name] = protocol
        return protocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The limited protocol by import name, for uvicorn's worker processes (see ``__getattr__``).
PROTOCOL_NAME = f"{__name__}:LimitedProtocol"


def server_options(settings: Any, *, by_name: bool = False) -> dict[str, Any]:
    """``uvicorn.Config`` options that apply the connection limits of ``settings``.

    ``by_name``: the protocol class by its import name (:data:`PROTOCOL_NAME`), which each of
    uvicorn's worker processes imports with the limits of the same environment."""
    protocol = (
        PROTOCOL_NAME
        if by_name
        else limited_protocol(
            settings.max_header_bytes,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
        )
    )
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keepalive_seconds,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


# -- API docs pages: a Content-Security-Policy --------------------------------------------------

DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)
#: Where FastAPI's Swagger UI / ReDoc pages load their assets from.
DOCS_CDN = "https://cdn.jsdelivr.net"


def docs_csp(page: bytes) -> str:
    """A CSP for FastAPI's /docs or /redoc page: scripts only from the CDN FastAPI names and the
    page's own inline scripts (by hash); nothing else may be loaded or framed."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'none'; script-src {DOCS_CDN} {hashes}; "
        f"style-src {DOCS_CDN} https://fonts.googleapis.com 'unsafe-inline'; "
        "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
        f"{DOCS_CDN}; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


class DocsSecurityHeaders:
    """ASGI middleware: the API docs pages get a CSP (:func:`docs_csp`) and ``nosniff``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                assert start is not None
                headers = [
                    (k, v)
                    for k, v in start.get("headers", [])
                    if k.lower() not in (b"content-length",)
                ]
                headers += [
                    (b"content-security-policy", docs_csp(body).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, buffered)
