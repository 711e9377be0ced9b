"""CDS Hooks JWT verification with real keys (ES384, RS384) and real signatures."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey

from vertebra.cdshooks.services import PREFETCH
from vertebra.http.testing import LoopbackServer
from vertebra.security import AuthError, JWTVerifier
from vertebra.security.devkeys import EhrSigner
from vertebra.settings import Settings

AUD = "https://cds.example.org/cds-services/vertebra-patient-view"


class Jti:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, iss: str, jti: str, expires_at: int, now: int) -> bool:
        if (iss, jti) in self.seen:
            return False
        self.seen.add((iss, jti))
        return True


def verifier(*signers: EhrSigner, **settings: Any) -> JWTVerifier:
    issuers = settings.pop("trusted_issuers", [s.issuer() for s in signers])
    return JWTVerifier(Settings(trusted_issuers=issuers, **settings), Jti())


def refused(v: JWTVerifier, token: str | None, match: str, aud: str = AUD) -> None:
    with pytest.raises(AuthError, match=match):
        v.verify(None if token is None else f"Bearer {token}", [aud])


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_valid_token_is_accepted(alg: str) -> None:
    signer = EhrSigner(alg=alg)  # type: ignore[arg-type]
    caller = verifier(signer).verify(f"Bearer {signer.token(AUD)}", [AUD])
    assert caller.iss == signer.iss
    assert caller.sub == signer.sub
    assert caller.authenticated


def test_aud_may_be_a_list_and_trailing_slash_is_ignored(es384: EhrSigner) -> None:
    v = verifier(es384)
    v.verify(f"Bearer {es384.token(['https://other', AUD + '/'])}", [AUD])


def test_expired_token_is_refused(es384: EhrSigner) -> None:
    old = int(time.time()) - 3600
    refused(verifier(es384), es384.token(AUD, iat=old, lifetime=300), "expired")


def test_expiry_within_leeway_is_accepted(es384: EhrSigner) -> None:
    now = int(time.time())
    verifier(es384).verify(f"Bearer {es384.token(AUD, iat=now - 310, lifetime=300)}", [AUD])


def test_wrong_audience_is_refused(es384: EhrSigner) -> None:
    token = es384.token("https://cds.example.org/cds-services/other-service")
    refused(verifier(es384), token, "audience")


def test_replayed_jti_is_refused(es384: EhrSigner) -> None:
    v = verifier(es384)
    token = es384.token(AUD)
    v.verify(f"Bearer {token}", [AUD])
    refused(v, token, "replay")
    # A new token that reuses the jti is a replay too.
    refused(v, es384.token(AUD, jti=json.loads(_payload(token))["jti"]), "replay")


def test_same_jti_from_two_issuers_is_not_a_replay(es384: EhrSigner, rs384: EhrSigner) -> None:
    v = verifier(es384, rs384)
    v.verify(f"Bearer {es384.token(AUD, jti='same')}", [AUD])
    v.verify(f"Bearer {rs384.token(AUD, jti='same')}", [AUD])


def test_hs256_is_refused_even_with_the_public_key_as_secret(es384: EhrSigner) -> None:
    # The classic algorithm-confusion attack: HMAC keyed with the published public key.
    public = json.dumps(es384.jwks()["keys"][0]).encode()
    secret = OctKey.import_key(public)
    claims = {
        "iss": es384.iss,
        "sub": "x",
        "aud": AUD,
        "exp": int(time.time()) + 300,
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode({"alg": "HS256", "kid": es384.kid}, claims, secret, algorithms=["HS256"])
    refused(verifier(es384), token, "HS256")


def test_alg_none_is_refused(es384: EhrSigner) -> None:
    claims = {
        "iss": es384.iss,
        "aud": AUD,
        "exp": int(time.time()) + 300,
        "iat": int(time.time()),
        "jti": "n1",
    }
    refused(verifier(es384), unsigned({"alg": "none", "kid": es384.kid}, claims), "none")


def test_forged_signature_is_refused(es384: EhrSigner) -> None:
    impostor = EhrSigner(iss=es384.iss, alg="ES384", kid=es384.kid)
    refused(verifier(es384), impostor.token(AUD), "signature")


def test_tampered_claims_are_refused(es384: EhrSigner) -> None:
    head, _, sig = es384.token(AUD).split(".")
    claims = {
        "iss": es384.iss,
        "sub": "admin",
        "aud": AUD,
        "exp": int(time.time()) + 300,
        "iat": int(time.time()),
        "jti": "t1",
    }
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(verifier(es384), f"{head}.{body}.{sig}", "signature")


def test_untrusted_issuer_is_refused(es384: EhrSigner) -> None:
    stranger = EhrSigner(iss="https://evil.example.org")
    refused(verifier(es384), stranger.token(AUD), "not trusted")


def test_unknown_kid_is_refused(es384: EhrSigner) -> None:
    refused(verifier(es384), es384.token(AUD, header={"kid": "nope"}), "no key")


def test_missing_kid_is_refused(es384: EhrSigner) -> None:
    token = jwt.encode({"alg": "ES384"}, {"iss": es384.iss}, es384.key, algorithms=["ES384"])
    refused(verifier(es384), token, "kid")


@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "aud"])
def test_missing_claims_are_refused(es384: EhrSigner, claim: str) -> None:
    refused(verifier(es384), es384.token(AUD, drop=(claim,)), claim)


def test_iat_in_the_future_is_refused(es384: EhrSigner) -> None:
    refused(verifier(es384), es384.token(AUD, iat=int(time.time()) + 3600), "future")


def test_overlong_lifetime_is_refused(es384: EhrSigner) -> None:
    refused(verifier(es384), es384.token(AUD, lifetime=86400), "lifetime")


def test_untrusted_subject_is_refused(es384: EhrSigner) -> None:
    v = verifier(trusted_issuers=[es384.issuer(subjects=["the-real-client"])])
    refused(v, es384.token(AUD), "subject")


def test_jku_other_than_the_configured_url_is_refused(es384: EhrSigner) -> None:
    token = es384.token(AUD, header={"jku": "https://evil.example.org/jwks.json"})
    refused(verifier(es384), token, "jku")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer not-a-jwt"])
def test_missing_or_malformed_authorization_is_refused(header: str | None) -> None:
    v = verifier(EhrSigner())
    with pytest.raises(AuthError):
        v.verify(header, [AUD])


def test_symmetric_algorithms_cannot_be_configured() -> None:
    from vertebra.settings import SettingsError

    with pytest.raises(SettingsError, match="VERTEBRA_JWT_ALGORITHMS"):
        Settings.from_mapping({"VERTEBRA_JWT_ALGORITHMS": "ES384,HS256"})


def test_jwks_is_fetched_from_the_issuer_url_and_refetched_on_rotation() -> None:
    old, new = EhrSigner(iss="https://ehr.rot"), EhrSigner(iss="https://ehr.rot")
    published: dict[str, Any] = {"jwks": old.jwks()}
    hits = [0]
    jwks_app = FastAPI()

    @jwks_app.get("/jwks.json")
    def jwks() -> dict[str, Any]:
        hits[0] += 1
        keys: dict[str, Any] = published["jwks"]
        return keys

    with LoopbackServer(jwks_app) as base:
        url = f"{base}/jwks.json"
        clock = [time.time()]
        v = JWTVerifier(
            Settings(trusted_issuers=[old.issuer(jwks_url=url)]), Jti(), clock=lambda: clock[0]
        )
        v.verify(f"Bearer {old.token(AUD, header={'jku': url})}", [AUD])
        v.verify(f"Bearer {old.token(AUD)}", [AUD])
        assert hits == [1]  # cached
        published["jwks"] = {"keys": old.jwks()["keys"] + new.jwks()["keys"]}
        clock[0] += JWTVerifier.REFETCH_INTERVAL + 1
        v.verify(f"Bearer {new.token(AUD)}", [AUD])  # unknown kid: refetched once
        assert hits == [2]


def test_unreachable_jwks_url_refuses_without_crashing(es384: EhrSigner) -> None:
    v = verifier(trusted_issuers=[es384.issuer(jwks_url="http://127.0.0.1:9/jwks.json")])
    refused(v, es384.token(AUD), "could not be fetched")


def _payload(token: str) -> bytes:
    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# -- through the ASGI app -----------------------------------------------------------------

URL = "http://testserver/cds-services/vertebra-patient-view"


def hook_body() -> dict[str, Any]:
    prefetch: dict[str, Any] = dict.fromkeys(PREFETCH)
    prefetch["patient"] = {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1950-01-01",
    }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": prefetch,
    }


def test_app_refuses_a_call_without_a_jwt(make_client: Any, es384: EhrSigner) -> None:
    client = make_client(trusted_issuers=[es384.issuer()])
    r = client.post("/cds-services/vertebra-patient-view", json=hook_body())
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"] == "unauthorized"
    assert r.json()["errors"] == []


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_app_accepts_a_signed_call_once(make_client: Any, alg: str) -> None:
    signer = EhrSigner(alg=alg)  # type: ignore[arg-type]
    client = make_client(trusted_issuers=[signer.issuer()])
    headers = {"Authorization": f"Bearer {signer.token(URL)}"}
    r = client.post("/cds-services/vertebra-patient-view", json=hook_body(), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"cards": []}  # no vertebral fracture recorded: nothing to say
    again = client.post("/cds-services/vertebra-patient-view", json=hook_body(), headers=headers)
    assert again.status_code == 401
    assert "replay" in again.json()["message"]
    events = client.app.state.vertebra.store.events()
    assert [e.caller for e in events] == [f"{signer.iss} sub={signer.sub}"]


def test_app_uses_up_the_token_of_a_failed_call(make_client: Any, es384: EhrSigner) -> None:
    """The jti of a successful call is recorded with its audit event; a call that fails after
    authentication (here: invalid context) uses up its token all the same."""
    client = make_client(trusted_issuers=[es384.issuer()])
    headers = {"Authorization": f"Bearer {es384.token(URL)}"}
    bad = hook_body()
    bad["context"] = {"userId": "Practitioner/1"}  # no patientId
    r = client.post("/cds-services/vertebra-patient-view", json=bad, headers=headers)
    assert r.status_code == 422, r.text
    again = client.post("/cds-services/vertebra-patient-view", json=hook_body(), headers=headers)
    assert again.status_code == 401
    assert "replay" in again.json()["message"]
    # the refused call is audited, with its jti, in one transaction; the replay is not
    (event,) = client.app.state.vertebra.store.events()
    assert event.outcome == "refused:422:invalid_input"


def test_app_audience_is_the_public_url_behind_a_proxy(make_client: Any, es384: EhrSigner) -> None:
    public = "https://cds.hospital.example/vertebra"
    client = make_client(trusted_issuers=[es384.issuer()], public_base_url=public + "/")
    good = es384.token(f"{public}/cds-services/vertebra-patient-view")
    r = client.post(
        "/cds-services/vertebra-patient-view",
        json=hook_body(),
        headers={"Authorization": f"Bearer {good}"},
    )
    assert r.status_code == 200, r.text
    internal = es384.token(URL)
    r = client.post(
        "/cds-services/vertebra-patient-view",
        json=hook_body(),
        headers={"Authorization": f"Bearer {internal}"},
    )
    assert r.status_code == 401


def test_token_for_one_service_is_refused_by_another(make_client: Any, es384: EhrSigner) -> None:
    client = make_client(trusted_issuers=[es384.issuer()])
    body = hook_body() | {"hook": "order-sign"}
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    r = client.post(
        "/cds-services/vertebra-order-sign",
        json=body,
        headers={"Authorization": f"Bearer {es384.token(URL)}"},
    )
    assert r.status_code == 401


def test_development_mode_skips_auth_and_says_so(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="vertebra"):
        client = make_client(auth="disabled")
    assert any("DEVELOPMENT MODE" in r.getMessage() for r in caplog.records)
    r = client.post("/cds-services/vertebra-patient-view", json=hook_body())
    assert r.status_code == 200
    assert client.app.state.vertebra.store.events()[0].caller.startswith("unauthenticated")


def test_discovery_is_public(make_client: Any, es384: EhrSigner) -> None:
    client = make_client(trusted_issuers=[es384.issuer()])
    assert client.get("/cds-services").status_code == 200
