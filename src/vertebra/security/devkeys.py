"""A stand-in EHR for tests, benchmarks and local development: a key pair, its JWKS, and
CDS Hooks JWTs signed with it. Never used by the server itself."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

Algorithm = Literal["ES384", "RS384", "ES256", "RS256"]


class EhrSigner:
    """Signs CDS Hooks JWTs as the EHR ``iss`` would (ES384 or RS384 by default)."""

    def __init__(
        self,
        iss: str = "https://ehr.example.org",
        alg: Algorithm = "ES384",
        kid: str | None = None,
        sub: str = "vertebra-test-client",
    ) -> None:
        self.iss = iss
        self.alg = alg
        self.sub = sub
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        params: dict[str, Any] = {"kid": self.kid, "use": "sig", "alg": alg}
        if alg.startswith("ES"):
            curve = {"ES256": "P-256", "ES384": "P-384"}[alg]
            self.key: ECKey | RSAKey = ECKey.generate_key(curve, parameters=params)  # type: ignore[arg-type]
        else:
            self.key = RSAKey.generate_key(2048, parameters=params)  # type: ignore[arg-type]

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set."""
        return {"keys": [self.key.as_dict(private=False)]}

    def issuer(self, **extra: Any) -> dict[str, Any]:
        """A ``VERTEBRA_TRUSTED_ISSUERS`` entry with the JWKS inline (override with extra)."""
        entry: dict[str, Any] = {"iss": self.iss, "jwks": self.jwks()}
        if any(k in extra for k in ("jwks_url", "jwks_file")):
            entry.pop("jwks")
        entry.update(extra)
        return entry

    def token(
        self,
        aud: str | list[str],
        *,
        lifetime: int = 300,
        iat: int | None = None,
        jti: str | None = None,
        claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        """A signed JWT for ``aud`` (the service URL). ``claims``/``header`` override fields;
        ``drop`` removes claims."""
        now = int(time.time()) if iat is None else iat
        body: dict[str, Any] = {
            "iss": self.iss,
            "sub": self.sub,
            "aud": aud,
            "exp": now + lifetime,
            "iat": now,
            "jti": jti or str(uuid.uuid4()),
        }
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        head: dict[str, Any] = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        head.update(header or {})
        return jwt.encode(head, body, self.key, algorithms=[str(head["alg"])])
