"""Per-application state: settings, store, JWT verifier, HTTP client for FHIR fetches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from fastapi import Request

from vertebra.security import JWTVerifier
from vertebra.settings import Settings
from vertebra.store import Store


@dataclass
class AppState:
    settings: Settings
    store: Store
    verifier: JWTVerifier
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))

    @classmethod
    def build(cls, settings: Settings) -> AppState:
        store = Store(settings.database_url)
        http = httpx.Client(timeout=settings.fhir_timeout_seconds, follow_redirects=False)
        last_prune = [0.0]

        def use_jti(iss: str, jti: str, expires_at: int, now: int) -> bool:
            if now - last_prune[0] > 300:
                last_prune[0] = now
                store.prune_jti(now)
            return store.use_jti(iss, jti, expires_at, now)

        verifier = JWTVerifier(settings, use_jti, http=http, clock=time.time)
        return cls(settings=settings, store=store, verifier=verifier, http=http)

    def close(self) -> None:
        self.http.close()
        self.store.close()


async def get_state(request: Request) -> AppState:
    """The app's state. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its
    thread pool, which cost two thread hand-offs on every request."""
    state: AppState = request.app.state.vertebra
    return state
