"""``vertebra serve --workers N``: spread keep-alive connections evenly over the workers.

Every worker process accepts from the same listening socket, but only while it holds no more
open connections than the least-loaded worker (the counts live in shared memory, one slot per
worker, each written only by its own worker): least-connections balancing, as a load balancer
would do it. Without it the spread is left to chance - with a shared socket whichever worker
wakes first takes a whole burst of new connections, and with one ``SO_REUSEPORT`` socket per
worker the kernel hashes each connection to a worker, so 32 connections of one client split
e.g. 19/13 - and since an HTTP/1.1 client keeps its connections, the busier worker stays busier
for the whole session (in the load test: one worker near 85 % of a core, queueing, while the
other had time to spare).

A worker that is not the least loaded stops watching the socket for :attr:`Acceptor.PAUSE`
seconds; if a connection is still waiting after that (the others are busy or gone) it takes
one anyway, so no connection waits long for a worker.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, MutableSequence
from typing import Any

import uvicorn

log = logging.getLogger("vertebra.api")


class Acceptor:
    """Accepts connections from a shared listening socket on one worker's event loop."""

    #: How long a worker that is not the least loaded leaves new connections to the others.
    PAUSE = 0.01

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        counts: MutableSequence[int],
        index: int,
        protocol_factory: Callable[[], asyncio.Protocol],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._counts = counts
        self._index = index
        self._factory = protocol_factory
        self._watching = False
        self._overdue_until = 0.0  # until then, take a waiting connection whatever the counts
        self._resume: asyncio.TimerHandle | None = None
        self._stopped = False
        sock.setblocking(False)

    def start(self) -> None:
        self._watch()

    def stop(self) -> None:
        self._stopped = True
        self._unwatch()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None

    def connection_closed(self) -> None:
        self._counts[self._index] -= 1

    # -- internals ----------------------------------------------------------------------

    def _watch(self) -> None:
        if not self._watching and not self._stopped:
            self._loop.add_reader(self._sock.fileno(), self._ready)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._sock.fileno())
            self._watching = False

    def _least_loaded(self) -> bool:
        mine = self._counts[self._index]
        return all(mine <= n for i, n in enumerate(self._counts) if i != self._index)

    def _ready(self) -> None:
        while True:
            if not (self._loop.time() < self._overdue_until or self._least_loaded()):
                self._pause()
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it
            except OSError as exc:  # e.g. EMFILE: back off instead of spinning
                log.warning("accept failed: %s", exc)
                self._pause()
                return
            self._overdue_until = 0.0
            self._counts[self._index] += 1
            self._loop.create_task(self._serve(conn))

    def _pause(self) -> None:
        self._unwatch()
        if self._resume is None and not self._stopped:
            self._resume = self._loop.call_later(self.PAUSE, self._wake)

    def _wake(self) -> None:
        self._resume = None
        # A connection still waiting now was left by the others: take it, whatever the counts.
        self._overdue_until = self._loop.time() + self.PAUSE
        self._watch()

    async def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:  # the client went away before the connection was set up
            self.connection_closed()
            conn.close()


class BalancedServer(uvicorn.Server):
    """A uvicorn server whose connections come from an :class:`Acceptor` on a shared socket."""

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket, counts: MutableSequence[int], index: int
    ) -> None:
        super().__init__(config)
        self._sock = sock
        self._counts = counts
        self._index = index
        self._acceptor: Acceptor | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the lifespan; no listener of uvicorn's own
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        config = self.config
        base: Any = config.http_protocol_class

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = _counted(base)(
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )
            made._vertebra_acceptor = acceptor  # type: ignore[attr-defined]
            return made

        acceptor = Acceptor(loop, self._sock, self._counts, self._index, protocol)
        self._acceptor = acceptor
        acceptor.start()
        host, port = self._sock.getsockname()[:2]
        log.info("worker %d accepting on %s:%d (least-connections)", self._index, host, port)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._acceptor is not None:
            self._acceptor.stop()
        await super().shutdown(sockets=None)


_COUNTED: dict[Any, Any] = {}


def _counted(base: Any) -> Any:
    """``base`` (uvicorn's HTTP protocol class) telling its acceptor when it closes."""
    counted = _COUNTED.get(base)
    if counted is None:

        def connection_lost(self: Any, exc: Exception | None) -> None:
            try:
                base.connection_lost(self, exc)
            finally:
                self._vertebra_acceptor.connection_closed()

        counted = type(f"Counted{base.__name__}", (base,), {"connection_lost": connection_lost})
        _COUNTED[base] = counted
    return counted
