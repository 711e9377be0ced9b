"""Least-connections accept on a shared socket (``vertebra serve --workers N``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

from vertebra.http.balance import Acceptor


class _Worker:
    """An event loop on a thread with an Acceptor, like one worker process."""

    def __init__(self, sock: socket.socket, counts: list[int], index: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.transports: list[asyncio.BaseTransport] = []
        worker = self

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                worker.transports.append(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                worker.acceptor.connection_closed()

        self.sock = sock.dup()
        self.acceptor = Acceptor(self.loop, self.sock, counts, index, Protocol)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self.acceptor.start)
        self.loop.run_forever()

    def close_all(self) -> None:
        def close() -> None:
            for t in self.transports:
                t.close()
            self.transports.clear()

        self.loop.call_soon_threadsafe(close)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.acceptor.stop)
        self.close_all()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.run_until_complete(asyncio.sleep(0.01))  # let the transports finish closing
        self.loop.close()
        self.sock.close()


def _wait(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_connections_are_spread_evenly_and_refilled_where_they_closed() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    counts = [0, 0]
    workers = [_Worker(listener, counts, i) for i in range(2)]
    clients: list[socket.socket] = []
    try:
        for _ in range(20):  # a burst, as a client opening its keep-alive pool
            clients.append(socket.create_connection(("127.0.0.1", port)))
        _wait(lambda: sum(counts) == 20)
        # Even, give or take the odd connection a worker takes when the other did not accept
        # within Acceptor.PAUSE (threads of one process here, sharing the GIL).
        assert abs(counts[0] - counts[1]) <= 2, counts
        workers[0].close_all()  # worker 0's connections end
        _wait(lambda: counts[0] == 0)
        others = counts[1]
        for _ in range(others):
            clients.append(socket.create_connection(("127.0.0.1", port)))
        _wait(lambda: sum(counts) == 2 * others)
        assert counts[0] >= others - 2, counts  # the new ones went to the worker with room
    finally:
        for c in clients:
            c.close()
        for w in workers:
            w.stop()
        listener.close()


def test_a_busy_least_loaded_worker_does_not_block_new_connections() -> None:
    """If the least-loaded worker does not accept (busy, or gone), the others take the
    connection after a short pause."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    counts = [5, 0]  # worker 1 is "least loaded" but never accepts
    worker = _Worker(listener, counts, 0)
    client = socket.create_connection(("127.0.0.1", port))
    try:
        _wait(lambda: counts[0] == 6, timeout=2)
    finally:
        client.close()
        worker.stop()
        listener.close()
