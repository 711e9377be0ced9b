"""Security: verification of the CDS Hooks JWT that EHRs send on every call."""

from __future__ import annotations

from vertebra.security.jwt import ANONYMOUS_DEV, AuthError, Caller, JtiRecorder, JWTVerifier

__all__ = ["ANONYMOUS_DEV", "AuthError", "Caller", "JWTVerifier", "JtiRecorder"]
