"""Per-application state: settings, store, JWT verifier, HTTP client for FHIR fetches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import httpx
from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from vertebra.security import AuthError, Caller, JWTVerifier
from vertebra.security.jwt import REPLAY
from vertebra.settings import Settings
from vertebra.store import EventRecord, JtiUse, ReplayError, Store

P = ParamSpec("P")
T = TypeVar("T")

#: Expired JWT ids are deleted from the replay cache at most this often (seconds).
PRUNE_INTERVAL = 300


@dataclass
class AppState:
    settings: Settings
    store: Store
    verifier: JWTVerifier
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    prune_jti: Callable[[int], None] = field(default=lambda _now: None)
    _offload: asyncio.Semaphore | None = None

    async def offload(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run CPU-heavy ``fn`` on a worker thread, at most ``VERTEBRA_PLAN_THREADS`` at once
        (the others wait their turn without holding a thread)."""
        if self._offload is None:
            self._offload = asyncio.Semaphore(self.settings.plan_threads)
        async with self._offload:
            return await run_in_threadpool(fn, *args, **kwargs)

    @classmethod
    def build(cls, settings: Settings) -> AppState:
        store = Store(settings.database_url)
        http = httpx.Client(timeout=settings.fhir_timeout_seconds, follow_redirects=False)
        last_prune = [0.0]

        def prune_jti(now: int) -> None:
            if now - last_prune[0] > PRUNE_INTERVAL:
                last_prune[0] = now
                store.prune_jti(now)

        def use_jti(iss: str, jti: str, expires_at: int, now: int) -> bool:
            prune_jti(now)
            return store.use_jti(iss, jti, expires_at, now)

        verifier = JWTVerifier(settings, use_jti, http=http, clock=time.time)
        return cls(
            settings=settings, store=store, verifier=verifier, http=http, prune_jti=prune_jti
        )

    def record(self, record: EventRecord, caller: Caller | None = None) -> str:
        """Append an audit event. ``caller``: verified with ``use_jti=False``, its ``jti`` not
        recorded yet - it is recorded with the event, in one transaction (:class:`AuthError`,
        and no event, when it was already used)."""
        use = None
        if caller is not None and caller.jti is not None:
            if caller.jti_expires_at is None or caller.verified_at is None:
                raise AuthError("JWT claim jti is missing")
            use = JtiUse(caller.iss, caller.jti, caller.jti_expires_at, caller.verified_at)
            self.prune_jti(use.now)
        try:
            return self.store.record_event(record, use)
        except ReplayError:
            raise AuthError(REPLAY) from None

    def close(self) -> None:
        self.http.close()
        self.store.close()


async def get_state(request: Request) -> AppState:
    """The app's state. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its
    thread pool, which cost two thread hand-offs on every request."""
    state: AppState = request.app.state.vertebra
    return state
