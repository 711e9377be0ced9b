"""Per-application state: settings, store, JWT verifier, HTTP client for FHIR fetches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import httpx
from fastapi import Request

from vertebra.http.offload import Offloader
from vertebra.security import AuthError, Caller, JWTVerifier
from vertebra.security.jwt import REPLAY
from vertebra.settings import Settings
from vertebra.store import EventRecord, JtiUse, ReplayError, Store

#: JWKS fetches at once per server process (a thread each, apart from the shared pool).
JWKS_THREADS = 2

#: Expired JWT ids are deleted from the replay cache at most this often (seconds).
PRUNE_INTERVAL = 300


@dataclass
class AppState:
    settings: Settings
    store: Store
    verifier: JWTVerifier
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    prune_jti: Callable[[int], None] = field(default=lambda _now: None)
    #: Big request bodies: parsed and planned on worker threads (vertebra.http.offload).
    offloader: Offloader = field(init=False)
    _jwks_threads: anyio.CapacityLimiter | None = None

    def __post_init__(self) -> None:
        self.offloader = Offloader(self.settings)

    @property
    def jwks_threads(self) -> anyio.CapacityLimiter:
        """Threads for JWKS fetches, apart from the shared pool: at most
        :data:`JWKS_THREADS` at once per process (each fetch has its deadline; a caller that
        finds a fetch of its issuer under way is answered at once, see JWTVerifier)."""
        if self._jwks_threads is None:
            self._jwks_threads = anyio.CapacityLimiter(JWKS_THREADS)
        return self._jwks_threads

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
        self.offloader.close()
        self.http.close()
        self.store.close()


def app_state(request: Request) -> AppState:
    """The app's state, read directly: what the two routes on every request's path (the plan
    and the CDS services) use instead of a ``Depends`` (FastAPI solves a dependency on each
    call: a second pass of its parameter machinery)."""
    state: AppState = request.app.state.vertebra
    return state


async def get_state(request: Request) -> AppState:
    """The app's state. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its
    thread pool, which cost two thread hand-offs on every request."""
    state: AppState = request.app.state.vertebra
    return state
