"""Big request bodies are parsed and planned in helper processes, not on worker threads.

A thread does not take CPU-bound Python work off the event loop: it holds the GIL, and the
loop gets it back only at the interpreter's switch interval (5 ms) - at every socket read,
SQLite call or other GIL release of a normal request. In the load test a client sending a
0.6 MB Bundle (1,900 Conditions, planned) and a 4.4 MB one (16,000 Conditions: parsed, then
refused by the caps) twice a second on worker threads pushed the other clients' p99 from
12-14 ms to 82-107 ms on a quiet machine. In a helper process that work has its own
interpreter; the helpers also run at a lower priority (``nice`` +10), so the normal clients'
workers go first when the cores are busy.

Each server worker has its own pool of ``VERTEBRA_PLAN_THREADS`` helper processes (default 2),
started with the server (``spawn``: a clean interpreter that loads the knowledge base once; on
first use when the app runs without its lifespan, e.g. in tests) and replaced when one dies.
What crosses the pipe is the raw body one way and the answer bytes plus the audit record the
other way; the audit write itself stays in the worker (one transaction with the caller's JWT
id, as for small bodies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, ParamSpec, TypeVar

from vertebra.errors import FieldError, InputError
from vertebra.http.errors import ApiError
from vertebra.settings import Settings

log = logging.getLogger("vertebra.api")

P = ParamSpec("P")
T = TypeVar("T")

#: Scheduling priority of the helper processes, relative to the server workers.
NICENESS = 10

_SETTINGS: Settings | None = None


def _start_helper(settings: Settings) -> None:
    """A helper process's start-up: lower priority, the settings, the knowledge base."""
    global _SETTINGS
    _SETTINGS = settings
    with contextlib.suppress(AttributeError, OSError):  # not POSIX, or not allowed
        os.nice(NICENESS)
    from vertebra import terminology
    from vertebra.knowledge import load

    load()
    for valueset in terminology.available():
        terminology.load(valueset)


def _ready() -> int:
    """A helper's pid, once its start-up is done. It stays busy for a moment, so that the
    next call of :meth:`Offloader.start` goes to another helper."""
    time.sleep(0.05)
    return os.getpid()


def helper_settings() -> Settings:
    """The server's settings, inside a helper process."""
    if _SETTINGS is None:  # pragma: no cover - only called through Offloader.run
        raise RuntimeError("not in a vertebra helper process")
    return _SETTINGS


@dataclass(frozen=True)
class _Refused:
    """An :class:`ApiError` or :class:`InputError` raised in a helper, carried back as data
    (exceptions with their own constructors do not survive pickling reliably)."""

    status: int | None
    code: str
    message: str
    errors: list[FieldError]
    headers: dict[str, str] | None

    def reraise(self) -> NoReturn:
        if self.status is None:
            raise InputError(self.errors)
        raise ApiError(self.status, self.code, self.message, self.errors, self.headers)


@dataclass(frozen=True)
class _Done(Generic[T]):
    value: T


def _call(fn: Callable[..., T], args: tuple[Any, ...]) -> _Done[T] | _Refused:
    try:
        return _Done(fn(*args))
    except ApiError as exc:
        return _Refused(exc.status, exc.code, exc.message, exc.errors, exc.headers)
    except InputError as exc:
        return _Refused(None, "invalid_input", str(exc), exc.errors, None)


class Offloader:
    """Runs CPU-heavy request work in helper processes, ``VERTEBRA_PLAN_THREADS`` at a time
    per server worker (the others wait their turn on the event loop, holding no thread)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._settings.plan_threads,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_helper,
                initargs=(self._settings,),
            )
        return self._pool

    async def start(self, timeout: float = 120.0) -> set[int]:
        """Start every helper now (server start-up) and wait until each has loaded the
        knowledge base (~1-2 s of CPU each), rather than on the first big request: that work
        should not land in the middle of serving."""
        loop = asyncio.get_running_loop()
        pool = self._executor()
        wanted = self._settings.plan_threads
        deadline = loop.time() + timeout
        ready: set[int] = set()
        while len(ready) < wanted:
            if loop.time() > deadline:
                raise RuntimeError(f"{wanted - len(ready)} helper process(es) did not start")
            calls = [loop.run_in_executor(pool, _ready) for _ in range(wanted)]
            ready.update(await asyncio.gather(*calls))
        return ready

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args)`` in a helper process (``fn`` a module-level function; its arguments
        and result are pickled). :class:`ApiError` and :class:`InputError` raised there are
        raised here; a helper that died gives HTTP 503 and a fresh pool."""
        if kwargs:
            raise TypeError("Offloader.run takes positional arguments only")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._settings.plan_threads)
        async with self._slots:
            loop = asyncio.get_running_loop()
            pool = self._executor()
            try:
                outcome = await loop.run_in_executor(pool, _call, fn, args)
            except BrokenProcessPool:
                log.error("a helper process died; starting a new pool")
                if self._pool is pool:
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
                raise ApiError(
                    503, "unavailable", "the request could not be processed; try again"
                ) from None
        if isinstance(outcome, _Refused):
            outcome.reraise()
        assert isinstance(outcome, _Done)
        result: T = outcome.value
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
