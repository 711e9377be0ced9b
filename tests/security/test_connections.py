"""Connection limits against a real server on 127.0.0.1 (issue 14, item 3): a slowloris client,
huge headers, a slow body and idle keep-alive connections are cut off; normal requests pass."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vertebra.http import create_app
from vertebra.http.limits import server_options
from vertebra.http.testing import LoopbackServer
from vertebra.settings import Settings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}",
        auth="disabled",
        max_header_bytes=8192,
        header_timeout_seconds=1.0,
        body_timeout_seconds=1.0,
        keepalive_seconds=1.0,
    )
    app = create_app(settings)
    loop = LoopbackServer(app, **server_options(settings))
    with loop as base:
        yield base, loop.port
    app.state.vertebra.close()


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    started = time.monotonic()
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data, time.monotonic() - started


def test_slowloris_head_is_cut_off(server: tuple[str, int]) -> None:
    _, port = server
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    closed = False
    try:
        for i in range(40):  # one header line every 0.1 s, never the blank line
            sock.sendall(f"X-{i}: y\r\n".encode())
            time.sleep(0.1)
    except OSError:
        closed = True
    data, _ = _read_until_closed(sock, 3)
    sock.close()
    assert closed or data.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 1.0 + 4.0 + 1.0


def test_silent_connection_is_closed(server: tuple[str, int]) -> None:
    _, port = server
    sock = socket.create_connection(("127.0.0.1", port))
    data, took = _read_until_closed(sock, 5)
    sock.close()
    assert data == b"" and took < 3


def test_huge_headers_get_431_without_buffering_them(server: tuple[str, int]) -> None:
    _, port = server
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 40 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass
    data, _ = _read_until_closed(sock, 3)
    sock.close()
    assert data.startswith(b"HTTP/1.1 431") or data == b""
    assert sent < 40 * 1024 * 1024  # cut off long before (the issue: 40 MB headers)


def test_slow_body_gets_408(server: tuple[str, int]) -> None:
    _, port = server
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /api/plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"age":'
    )
    data, took = _read_until_closed(sock, 5)
    sock.close()
    assert data.startswith(b"HTTP/1.1 408"), data[:100]
    assert took < 3


def test_idle_keep_alive_is_closed_and_normal_requests_pass(server: tuple[str, int]) -> None:
    base, port = server
    big = {"age": 80, "sex": "female", "fracture_levels": ["L1"], "pad": "x" * 100_000}
    r = httpx.post(f"{base}/api/plan", json=big)  # a body far over the head limit: not 431
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pad"
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data, took = _read_until_closed(sock, 5)
    sock.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert took < 3  # closed by the 1 s keep-alive timeout
