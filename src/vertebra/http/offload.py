"""Big request bodies are parsed and planned on worker threads, a bounded number at a time.

A thread does not take CPU-bound Python work away from the event loop completely: it holds the
GIL, and the loop gets it back only at the interpreter's switch interval - at every socket
read, SQLite call or other GIL release of a normal request. :data:`SWITCH_INTERVAL` shortens
that wait from Python's 5 ms to 1 ms in the server processes. Helper *processes* would remove
it (their own interpreter); they were tried in session 4 and broke at start-up under uvicorn
workers (``BrokenProcessPool`` when two worker processes each started their pool; not resolved
in the time), so threads remain - see docs/api.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi.concurrency import run_in_threadpool

from vertebra.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

#: GIL switch interval of the server processes (seconds; Python's default is 0.005): how long
#: the event loop may wait for the GIL while a worker thread parses a big body.
SWITCH_INTERVAL = 0.001


class Offloader:
    """Runs CPU-heavy request work on worker threads, ``VERTEBRA_PLAN_THREADS`` at a time per
    server process (the others wait their turn on the event loop, holding no thread)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._slots: asyncio.Semaphore | None = None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._settings.plan_threads)
        async with self._slots:
            return await run_in_threadpool(fn, *args, **kwargs)

    def close(self) -> None:
        """Nothing to release (the threads are the shared pool's)."""
