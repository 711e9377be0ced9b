"""CDS Hooks JWT verification (CDS Hooks 2.0 "Trusting CDS Clients").

Every call carries ``Authorization: Bearer <JWT>`` signed by the EHR with an asymmetric key.
The service checks, in this order, and refuses with :class:`AuthError` at the first failure:

1. a bearer token is present and is a compact JWS whose ``alg`` is one of the configured
   asymmetric algorithms (never ``none`` or HMAC) and whose header names a ``kid``;
2. ``iss`` is a configured trusted issuer (and ``sub`` one of its subjects when listed);
   a ``jku`` header, if sent, must be that issuer's configured JWKS URL;
3. the signature verifies with the issuer's key ``kid`` from its configured JWKS
   (inline, a file, or a URL fetched and cached; refetched when a ``kid`` is unknown, at most
   once per 10 s per issuer, within ``VERTEBRA_JWKS_TIMEOUT_SECONDS``, never on the event
   loop; a ``kid`` still unknown after a refetch is refused at once for a minute);
4. ``aud`` contains the URL of the endpoint called, ``exp`` is in the future, ``iat`` and
   ``nbf`` are not in the future (both within the leeway), ``exp - iat`` is at most the
   configured lifetime, and ``jti`` is present;
5. the ``jti`` was never seen before for this issuer (kept in the store until ``exp``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vertebra.security.fetch import FetchError, get_json
from vertebra.settings import Settings, TrustedIssuer

log = logging.getLogger("vertebra.security")

#: ``use_jti(iss, jti, expires_at, now) -> bool``: False when the jti was already used.
JtiRecorder = Callable[[str, str, int, int], bool]


REPLAY = "JWT jti was already used (replay)"


class AuthError(Exception):
    """The caller could not be authenticated (HTTP 401). The message says why."""

    def __init__(self, message: str, code: str = "invalid_token") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Caller:
    """Who called: the EHR (``iss``) and its client (``sub``)."""

    iss: str
    sub: str | None = None
    jti: str | None = None
    tenant: str | None = None
    authenticated: bool = True
    #: Until when the ``jti`` must be remembered, and the verification time (epoch seconds):
    #: what :meth:`JWTVerifier.use_jti` records.
    jti_expires_at: int | None = None
    verified_at: int | None = None

    @property
    def label(self) -> str:
        if not self.authenticated:
            return self.iss
        return f"{self.iss} sub={self.sub}" if self.sub else self.iss


ANONYMOUS_DEV = Caller(iss="unauthenticated (auth disabled)", authenticated=False)


@dataclass
class _Keys:
    keys: KeySet
    fetched_at: float


@dataclass
class _IssuerState:
    keys: _Keys | None = None
    attempted_at: float = float("-inf")  # last network fetch started (clock time)
    misses: dict[str, float] = field(default_factory=dict)  # kid -> when it was missed
    lock: threading.Lock = field(default_factory=threading.Lock)


class FetchNeeded(Exception):
    """Verifying needs a JWKS fetch over the network: verify again off the event loop with
    ``fetch=True``."""


class JWTVerifier:
    """Verifies CDS Hooks JWTs against the trusted issuers in :class:`Settings`."""

    #: Do not fetch an issuer's JWKS URL more often than this (seconds), whatever the tokens.
    REFETCH_INTERVAL = 10.0
    #: A ``kid`` still unknown after a refetch is refused at once for this long (seconds).
    MISS_SECONDS = 60.0
    MAX_MISSES = 1024
    MAX_JWKS_BYTES = 1024 * 1024

    def __init__(
        self,
        settings: Settings,
        use_jti: JtiRecorder,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._use_jti = use_jti
        self._http = http
        self._clock = clock
        self._issuers: dict[str, TrustedIssuer] = {i.iss: i for i in settings.trusted_issuers}
        self._issuer_state: dict[str, _IssuerState] = {}
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------

    def verify(
        self,
        authorization: str | None,
        audiences: Sequence[str],
        *,
        use_jti: bool = True,
        fetch: bool = True,
    ) -> Caller:
        """The caller of a verified token (:class:`AuthError` otherwise).

        ``use_jti=False`` checks everything but leaves the ``jti`` unrecorded: the caller must
        then record it exactly once, with :meth:`use_jti` or in the same transaction as its
        audit event (``AppState.record``), before it answers.

        ``fetch=False`` (on the event loop): :class:`FetchNeeded` instead of a network fetch of
        a JWKS; call again with ``fetch=True`` on a worker thread."""
        token = _bearer(authorization)
        compact, header, claims = _peek(token)

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.jwt_algorithms:
            raise AuthError(
                f"JWT algorithm {alg!r} is not accepted; use one of "
                f"{', '.join(self.settings.jwt_algorithms)}"
            )
        typ = header.get("typ")
        if typ is not None and str(typ).upper() != "JWT":
            raise AuthError(f"JWT header typ must be JWT, not {typ!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("JWT header has no kid")

        iss = claims.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise AuthError(f"issuer {iss!r} is not trusted")
        issuer = self._issuers[iss]
        jku = header.get("jku")
        if jku is not None and jku != issuer.jwks_url:
            raise AuthError("JWT header jku is not the issuer's configured JWKS URL")
        sub = claims.get("sub")
        if issuer.subjects is not None and sub not in issuer.subjects:
            raise AuthError(f"subject {sub!r} is not trusted for issuer {iss!r}")

        keys = self._keys_for(issuer, kid, fetch)
        # joserfc's own check of the compact JWS parsed above (header, algorithm, the key
        # ``kid`` for that algorithm and use, signature) - what ``jwt.decode`` does after
        # parsing the token a second time; the claims are its payload, already decoded.
        try:
            valid = jws.validate_compact(compact, keys, algorithms=[alg])
        except JoseError as exc:
            raise AuthError(f"JWT signature is not valid ({exc.error})") from None
        if not valid:
            raise AuthError("JWT signature is not valid (bad_signature)")

        now = int(self._clock())
        self._check_claims(claims, audiences, now)
        exp = int(claims["exp"])
        tenant = claims.get("tenant")
        caller = Caller(
            iss=iss,
            sub=sub if isinstance(sub, str) else None,
            jti=str(claims["jti"]),
            tenant=tenant if isinstance(tenant, str) else None,
            jti_expires_at=exp + self.settings.jwt_leeway_seconds,
            verified_at=now,
        )
        if use_jti:
            self.use_jti(caller)
        return caller

    def use_jti(self, caller: Caller) -> None:
        """Record the caller's ``jti``; :class:`AuthError` when it was already used."""
        if caller.jti is None or caller.jti_expires_at is None or caller.verified_at is None:
            raise AuthError("JWT claim jti is missing")
        if not self._use_jti(caller.iss, caller.jti, caller.jti_expires_at, caller.verified_at):
            raise AuthError(REPLAY)

    # -- claims -------------------------------------------------------------------------

    def _check_claims(self, claims: dict[str, Any], audiences: Sequence[str], now: int) -> None:
        leeway = self.settings.jwt_leeway_seconds
        for name in ("aud", "exp", "iat", "jti"):
            if claims.get(name) in (None, "", []):
                raise AuthError(f"JWT claim {name} is missing")
        aud = claims["aud"]
        given = [aud] if isinstance(aud, str) else aud
        if not isinstance(given, list) or not all(isinstance(a, str) for a in given):
            raise AuthError("JWT claim aud must be a string or a list of strings")
        wanted = {a.rstrip("/") for a in audiences}
        if not any(a.rstrip("/") in wanted for a in given):
            raise AuthError(f"JWT audience does not match this endpoint ({', '.join(audiences)})")
        exp, iat = claims["exp"], claims["iat"]
        if not _is_number(exp) or not _is_number(iat):
            raise AuthError("JWT claims exp and iat must be numbers")
        if exp + leeway < now:
            raise AuthError("JWT has expired")
        if iat - leeway > now:
            raise AuthError("JWT iat is in the future")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not _is_number(nbf):
                raise AuthError("JWT claim nbf must be a number")
            if nbf - leeway > now:
                raise AuthError("JWT is not valid yet (nbf is in the future)")
        if exp - iat > self.settings.jwt_max_lifetime_seconds:
            raise AuthError(
                f"JWT lifetime exp - iat exceeds {self.settings.jwt_max_lifetime_seconds} s"
            )
        if not isinstance(claims["jti"], str):
            raise AuthError("JWT claim jti must be a string")

    # -- keys ---------------------------------------------------------------------------

    def _keys_for(self, issuer: TrustedIssuer, kid: str, fetch: bool) -> KeySet:
        """The issuer's keys holding ``kid``. A network fetch happens only with ``fetch``
        (else :class:`FetchNeeded`), at most once per :attr:`REFETCH_INTERVAL` per issuer,
        one at a time per issuer, within ``VERTEBRA_JWKS_TIMEOUT_SECONDS``; a ``kid`` still
        unknown after a refetch is remembered for :attr:`MISS_SECONDS` (answered at once)."""
        state = self._state(issuer.iss)
        now = self._clock()
        cached = state.keys
        if issuer.jwks_url is None:
            if cached is None:
                with state.lock:
                    cached = state.keys or self._load(issuer, state)
            if _has_kid(cached.keys, kid):
                return cached.keys
            raise AuthError(f"issuer {issuer.iss!r} has no key {kid!r}")
        stale = cached is None or now - cached.fetched_at >= self.settings.jwks_cache_seconds
        due = now - state.attempted_at >= self.REFETCH_INTERVAL
        if stale and (due or cached is None):
            if cached is None and not due:
                raise AuthError("the issuer's JWKS could not be fetched", code="jwks_unavailable")
            if not fetch:
                raise FetchNeeded(issuer.iss)
            cached = self._refetch(issuer, state) or cached
            due = False
        assert cached is not None
        if _has_kid(cached.keys, kid):
            return cached.keys
        missed = state.misses.get(kid)
        if missed is not None and now - missed < self.MISS_SECONDS:
            raise AuthError(f"issuer {issuer.iss!r} has no key {kid!r}")
        if due:
            if not fetch:
                raise FetchNeeded(issuer.iss)
            cached = self._refetch(issuer, state) or cached
            if _has_kid(cached.keys, kid):
                return cached.keys
            if len(state.misses) >= self.MAX_MISSES:
                state.misses.clear()
            state.misses[kid] = now
        raise AuthError(f"issuer {issuer.iss!r} has no key {kid!r}")

    def _state(self, iss: str) -> _IssuerState:
        state = self._issuer_state.get(iss)
        if state is None:
            with self._lock:
                state = self._issuer_state.setdefault(iss, _IssuerState())
        return state

    def _refetch(self, issuer: TrustedIssuer, state: _IssuerState) -> _Keys | None:
        """Fetch the issuer's JWKS (one fetch at a time per issuer; a caller that waited for
        another's fetch uses its result). None when the fetch failed but older keys exist."""
        timeout = self.settings.jwks_timeout_seconds
        started = self._clock()
        if not state.lock.acquire(timeout=timeout):
            raise AuthError("the issuer's JWKS could not be fetched", code="jwks_unavailable")
        try:
            if state.attempted_at >= started and state.keys is not None:
                return state.keys  # fetched by another caller meanwhile
            state.attempted_at = self._clock()
            try:
                return self._load(issuer, state)
            except AuthError:
                if state.keys is not None:
                    return None
                raise
        finally:
            state.lock.release()

    def _load(self, issuer: TrustedIssuer, state: _IssuerState) -> _Keys:
        if issuer.jwks is not None:
            data: Any = issuer.jwks
        elif issuer.jwks_file is not None:
            data = json.loads(Path(issuer.jwks_file).read_text(encoding="utf-8"))
        else:
            data = self._fetch(str(issuer.jwks_url))
        try:
            keys = KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            log.error("JWKS of issuer %s cannot be read: %s", issuer.iss, type(exc).__name__)
            raise AuthError(f"the JWKS of issuer {issuer.iss!r} cannot be read") from None
        private = [k for k in keys.keys if k.is_private]
        if private:
            log.warning(
                "JWKS of issuer %s contains private keys; only public parts are used", issuer.iss
            )
        entry = _Keys(keys=keys, fetched_at=self._clock())
        state.keys = entry
        state.misses.clear()
        return entry

    def _fetch(self, url: str) -> Any:
        client = self._http or httpx.Client()
        deadline = time.monotonic() + self.settings.jwks_timeout_seconds
        try:
            status, data = get_json(
                client,
                url,
                headers={"Accept": "application/json"},
                deadline=deadline,
                max_bytes=self.MAX_JWKS_BYTES,
            )
        except FetchError as exc:
            log.error("JWKS fetch from %s failed: %s", url, exc.reason)
            raise AuthError(
                "the issuer's JWKS could not be fetched", code="jwks_unavailable"
            ) from None
        finally:
            if self._http is None:
                client.close()
        if status != 200:
            log.error("JWKS fetch from %s failed: HTTP %d", url, status)
            raise AuthError("the issuer's JWKS could not be fetched", code="jwks_unavailable")
        return data


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("an Authorization: Bearer JWT is required", code="missing_token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <JWT>'", code="missing_token")
    return token.strip()


def _peek(token: str) -> tuple[jws.CompactSignature, dict[str, Any], dict[str, Any]]:
    """The parsed compact JWS, its header and its claims (before verification: used to
    choose the key, and trusted only once :func:`jws.validate_compact` accepts the JWS)."""
    if token.count(".") != 2:
        raise AuthError("the bearer token is not a compact JWT")
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise AuthError(f"the bearer token is not a valid JWT ({type(exc).__name__})") from None
    header = dict(obj.protected)
    if not isinstance(claims, dict):
        raise AuthError("the JWT payload is not a JSON object")
    return obj, header, claims


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
