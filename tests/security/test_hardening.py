"""Service hardening (issue 14): JWKS fetches off the loop, rate-limited, with a deadline; nbf;
the JWT audience needs a configured public URL; bad input is 4xx, never 500. Each test failed
before its fix."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from vertebra.http import create_app
from vertebra.http.testing import LoopbackServer
from vertebra.security import AuthError, JWTVerifier
from vertebra.security.devkeys import EhrSigner
from vertebra.security.jwt import FetchNeeded
from vertebra.settings import Settings, SettingsError

AUD = "http://127.0.0.1/cds-services/vertebra-patient-view"


def no_replay(iss: str, jti: str, expires_at: int, now: int) -> bool:
    return True


class Jwks:
    """A JWKS endpoint that can be made slow; counts its hits."""

    def __init__(self, signer: EhrSigner) -> None:
        self.jwks = signer.jwks()
        self.hits = 0
        self.delay = 0.0
        self.app = FastAPI()

        @self.app.get("/jwks.json")
        def jwks() -> dict[str, Any]:
            self.hits += 1
            time.sleep(self.delay)
            return self.jwks


def test_unknown_kid_is_fetched_off_the_loop_once_per_interval_and_the_miss_cached() -> None:
    signer, stranger = EhrSigner(iss="https://ehr.k"), EhrSigner(iss="https://ehr.k")
    server = Jwks(signer)
    with LoopbackServer(server.app) as base:
        clock = [time.time()]
        v = JWTVerifier(
            Settings(trusted_issuers=[signer.issuer(jwks_url=f"{base}/jwks.json")]),
            no_replay,
            clock=lambda: clock[0],
        )
        with pytest.raises(FetchNeeded):  # nothing cached: the loop must not fetch
            v.verify(f"Bearer {signer.token(AUD)}", [AUD], fetch=False)
        v.verify(f"Bearer {signer.token(AUD)}", [AUD])
        assert server.hits == 1
        v.verify(f"Bearer {signer.token(AUD)}", [AUD], fetch=False)  # cached: on the loop
        unknown = f"Bearer {stranger.token(AUD)}"
        with pytest.raises(AuthError, match="has no key"):  # fetched just now: not again
            v.verify(unknown, [AUD])
        clock[0] += JWTVerifier.REFETCH_INTERVAL + 1
        with pytest.raises(FetchNeeded):  # an unknown kid: refetch, but not on the loop
            v.verify(unknown, [AUD], fetch=False)
        with pytest.raises(AuthError, match="has no key"):
            v.verify(unknown, [AUD])
        assert server.hits == 2
        clock[0] += JWTVerifier.REFETCH_INTERVAL + 1
        for _ in range(20):  # the miss is cached and the issuer rate-limited: no more fetches
            with pytest.raises(AuthError, match="has no key"):
                v.verify(f"Bearer {stranger.token(AUD)}", [AUD], fetch=False)
            with pytest.raises(AuthError, match="has no key"):
                v.verify(f"Bearer {stranger.token(AUD)}", [AUD])
        assert server.hits == 2


def test_jwks_fetch_has_a_total_deadline() -> None:
    signer = EhrSigner(iss="https://ehr.drip")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = sock.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{")
        while not stop.is_set():
            time.sleep(0.2)
            try:
                conn.sendall(b" ")
            except OSError:
                break
        conn.close()

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
    v = JWTVerifier(
        Settings(trusted_issuers=[signer.issuer(jwks_url=url)], jwks_timeout_seconds=1.0), no_replay
    )
    started = time.monotonic()
    try:
        with pytest.raises(AuthError, match="could not be fetched"):
            v.verify(f"Bearer {signer.token(AUD)}", [AUD])
    finally:
        stop.set()
        sock.close()
    assert time.monotonic() - started < 2.0


def test_slow_jwks_does_not_stall_the_server(tmp_path: Path) -> None:
    """An unauthenticated token naming a trusted iss and an unknown kid, against a slow JWKS
    host: /healthz answers meanwhile (it waited for the fetch when it ran on the loop)."""
    signer, stranger = EhrSigner(iss="https://ehr.slow"), EhrSigner(iss="https://ehr.slow")
    jwks = Jwks(signer)
    with LoopbackServer(jwks.app) as jwks_base:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}",
            trusted_issuers=[signer.issuer(jwks_url=f"{jwks_base}/jwks.json")],
            public_base_url="http://127.0.0.1",
        )
        app = create_app(settings)
        try:
            with LoopbackServer(app) as base:
                url = f"{base}/cds-services/vertebra-patient-view"
                aud = "http://127.0.0.1/cds-services/vertebra-patient-view"
                good = {"Authorization": f"Bearer {signer.token(aud)}"}
                assert httpx.post(url, json={}, headers=good).status_code == 422  # keys cached
                jwks.delay = 3.0
                bad = {"Authorization": f"Bearer {stranger.token(aud)}"}
                slow = threading.Thread(
                    target=lambda: httpx.post(url, json={}, headers=bad, timeout=30)
                )
                slow.start()
                time.sleep(0.3)
                started = time.monotonic()
                assert httpx.get(f"{base}/healthz").status_code == 200
                assert time.monotonic() - started < 1.0
                slow.join()
        finally:
            app.state.vertebra.close()


def test_nbf_is_honoured_within_the_leeway() -> None:
    signer = EhrSigner(iss="https://ehr.nbf")
    v = JWTVerifier(Settings(trusted_issuers=[signer.issuer()], jwt_leeway_seconds=30), no_replay)
    now = int(time.time())
    with pytest.raises(AuthError, match="nbf"):
        v.verify(f"Bearer {signer.token(AUD, claims={'nbf': now + 120})}", [AUD])
    v.verify(f"Bearer {signer.token(AUD, claims={'nbf': now + 10})}", [AUD])
    with pytest.raises(AuthError, match="nbf"):
        v.verify(f"Bearer {signer.token(AUD, claims={'nbf': 'soon'})}", [AUD])


def test_jwt_mode_with_issuers_refuses_to_start_without_public_base_url(tmp_path: Path) -> None:
    signer = EhrSigner(iss="https://ehr.aud")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", trusted_issuers=[signer.issuer()]
    )
    with pytest.raises(SettingsError, match="VERTEBRA_PUBLIC_BASE_URL"):
        create_app(settings)
    with pytest.raises(SettingsError, match="VERTEBRA_PUBLIC_BASE_URL"):
        Settings.from_mapping({"VERTEBRA_PUBLIC_BASE_URL": "http://user@host/"})


# -- bad input on /api/plan -------------------------------------------------------------------


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


@pytest.mark.parametrize("levels", [1500, 900])
def test_deeply_nested_plan_body_is_422(make_client: Any, levels: int) -> None:
    client = make_client(auth="disabled")
    patient = {"resourceType": "Patient", "id": "p", "extension": "DEEP"}
    body = json.dumps(_bundle([patient])).replace(
        '"DEEP"', '[{"extension": ' * levels + "[]" + "}]" * levels
    )
    r = client.post("/api/plan", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    field = r.json()["errors"][0]["field"]
    assert field == "(body)" or field.startswith("entry[0].resource.extension")


def test_too_many_resources_is_413_naming_the_limit(make_client: Any) -> None:
    client = make_client(auth="disabled", max_bundle_resources=50)
    patient = {"resourceType": "Patient", "id": "p", "gender": "female"}
    others = [
        {
            "resourceType": "Condition",
            "id": str(uuid.uuid4()),
            "subject": {"reference": "Patient/p"},
        }
        for _ in range(50)
    ]
    r = client.post("/api/plan", json=_bundle([patient, *others]))
    assert r.status_code == 413, r.text
    assert "VERTEBRA_MAX_BUNDLE_RESOURCES" in r.json()["message"]


def test_resource_caps_refuse_before_the_depth_walk(make_client: Any) -> None:
    """A Bundle over the resource cap is refused with 413 from a shallow count, before the
    depth check walks every value (~100 ms of CPU under the GIL on the bench's 6.6 MB Bundle,
    which stalled the other requests): it gets 413 even when it is also nested too deep."""
    client = make_client(auth="disabled", max_bundle_resources=50)
    patient = {"resourceType": "Patient", "id": "p", "extension": "DEEP"}
    others = [{"resourceType": "Condition", "id": str(i)} for i in range(50)]
    body = json.dumps(_bundle([patient, *others])).replace(  # parses, but over the depth limit
        '"DEEP"', '[{"extension": ' * 100 + "[]" + "}]" * 100
    )
    r = client.post("/api/plan", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "VERTEBRA_MAX_BUNDLE_RESOURCES" in r.json()["message"]


def test_ask_question_length_is_capped(make_client: Any) -> None:
    client = make_client(auth="disabled", max_question_chars=100)
    r = client.post("/api/ask", json={"question": "1" * 101})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "question"
    assert "VERTEBRA_MAX_QUESTION_CHARS" in r.json()["errors"][0]["message"]


def test_api_docs_send_a_csp_or_are_off(make_client: Any) -> None:
    """Issue 14 item 14: /docs and /redoc load from a CDN: they send a CSP that allows only
    that CDN and their own inline script (by hash), and VERTEBRA_API_DOCS=false removes them."""
    import base64
    import hashlib
    import re

    client = make_client(auth="disabled")
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", r.text, re.S):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    off = make_client(auth="disabled", api_docs=False)
    assert off.get("/docs").status_code == 404
    assert off.get("/redoc").status_code == 404
    assert off.get("/openapi.json").status_code == 200


def test_server_log_has_no_exception_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 12: an exception escaping the app is logged by uvicorn; its message (which
    may quote patient data) is withheld, its type and stack kept."""
    import vertebra.http.routers.api as routes

    secret = "".join(["Quack", "enbush born ", "19", "46"])  # not on the raising line

    def boom(_facts: Any) -> Any:
        raise ValueError(secret)

    monkeypatch.setattr(routes, "make_plan", boom)
    import io
    import logging

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", auth="disabled"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # formats exc_info like uvicorn's handler does
    uvicorn_log = logging.getLogger("uvicorn.error")
    try:
        with LoopbackServer(app) as base:
            uvicorn_log.addHandler(handler)
            r = httpx.post(
                f"{base}/api/plan", json={"age": 80, "sex": "female", "fracture_levels": ["L1"]}
            )
    finally:
        uvicorn_log.removeHandler(handler)
        app.state.vertebra.close()
    assert r.status_code == 500 and "Quackenbush" not in r.text
    text = stream.getvalue()
    assert "Exception in ASGI application" in text and "ValueError" in text
    assert "Quackenbush" not in text and "1946" not in text
