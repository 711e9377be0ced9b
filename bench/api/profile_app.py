"""CPU per request of the ASGI application itself, without HTTP or a load generator.

    uv run --frozen python bench/api/profile_app.py [--n 2000] [--profile plan|hook|healthz]

Builds the app exactly as ``vertebra serve`` does (with its start-up warm-up: gc.freeze and the
GC thresholds; a throw-away SQLite audit store, JWT verification ON with a generated ES384 EHR
key) and calls it directly over ASGI, one request at a time on one event loop: ``GET /healthz``,
``POST /api/plan`` and the patient-view hook with the same request pools as ``bench/api/run.py``.
Prints milliseconds of CPU per request (process time, so other work on the machine does not
inflate it); ``--profile`` prints the cProfile top functions for one endpoint. In the server the
same requests cost more (caches go cold between paced requests): compare variants here, read
absolute figures from the load test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import pstats
import random
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import hook_pool, patient_pool

from vertebra.security.devkeys import EhrSigner

HOST = "127.0.0.1:8000"
HOOK_PATH = "/cds-services/vertebra-patient-view"


@dataclasses.dataclass(frozen=True)
class Warmed:
    """The app as the server runs it, with the bench's request pools (``run.py``) and the EHR
    key that signs each hook call's JWT."""

    app: Any
    signer: EhrSigner
    facts: list[bytes]
    hooks: list[bytes]

    def tokens(self, n: int) -> list[str]:
        """``n`` fresh JWTs for the patient-view hook (each ``jti`` used once)."""
        aud = f"http://{HOST}{HOOK_PATH}"
        return [self.signer.token(aud, lifetime=600) for _ in range(n)]


@contextlib.contextmanager
def warmed_app() -> Iterator[Warmed]:
    """The app as the server runs it: a throw-away SQLite audit store, JWT verification on for
    an ES384 EHR key, and the server's start-up (knowledge loaded, ``gc.freeze``, GC
    thresholds); with the 500-patient request pools of ``run.py``."""
    rng = random.Random(20261121)
    signer = EhrSigner(iss="https://bench-ehr.example.org", alg="ES384")
    with tempfile.TemporaryDirectory(prefix="vertebra-profile-") as tmp:
        os.environ.update(
            {
                "VERTEBRA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'audit.sqlite3'}",
                "VERTEBRA_TRUSTED_ISSUERS": json.dumps([signer.issuer()]),
                "VERTEBRA_PUBLIC_BASE_URL": f"http://{HOST}",
                "VERTEBRA_LOG_LEVEL": "WARNING",
            }
        )
        os.environ.pop("VERTEBRA_CONFIG", None)
        from vertebra.http.app import _warm_up, create_app

        app = create_app()
        _warm_up()  # what the server's lifespan start-up does (gc.freeze, GC thresholds)
        facts = [json.dumps(f).encode() for f in patient_pool(500, rng)]
        hooks = [json.dumps(h).encode() for h in hook_pool(500, rng)]
        yield Warmed(app, signer, facts, hooks)


def _call(app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Any:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", HOST.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            *headers,
        ],
    }
    sent: list[dict[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            await asyncio.sleep(3600)
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def go() -> int:
        await app(scope, receive, send)
        return int(sent[0]["status"])

    return go()


SECTIONS: dict[str, float] = {}


def _timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` with a wrapper adding its CPU time to ``SECTIONS[label]``."""
    inner = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            SECTIONS[label] = SECTIONS.get(label, 0.0) + time.process_time() - t0

    setattr(owner, name, timed)


def es384_verify_ms(signer: EhrSigner, rounds: int = 1000) -> float:
    """CPU ms of one ES384 signature verification by OpenSSL (cryptography), nothing else."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    private = signer.key.get_op_key("sign")
    key = private.public_key()
    data = b"x" * 600
    signature = private.sign(data, ec.ECDSA(hashes.SHA384()))
    t0 = time.process_time()
    for _ in range(rounds):
        key.verify(signature, data, ec.ECDSA(hashes.SHA384()))
    return (time.process_time() - t0) / rounds * 1000


def print_sections(
    loop: asyncio.AbstractEventLoop,
    cases: dict[str, Callable[[int], Any]],
    n: int,
    signer: EhrSigner,
) -> None:
    """Where a request's CPU goes: named steps timed by wrappers, the rest is the framework
    (FastAPI routing, dependencies, middleware, ASGI) and this script's own calls."""
    import orjson
    import pydantic_core

    from vertebra.cdshooks.cards import CardBuilder
    from vertebra.http import audit
    from vertebra.http.routers import api, cdshooks
    from vertebra.http.state import AppState
    from vertebra.plan import Plan
    from vertebra.security.jwt import JWTVerifier
    from vertebra.store import Store

    cdshooks.orjson = types.SimpleNamespace(dumps=orjson.dumps)  # type: ignore[assignment]
    steps = [
        (JWTVerifier, "verify", "JWT verification (ES384 + claims)"),
        (cdshooks, "parse_body", "request JSON parse + validation"),
        (api, "load_json", "request JSON parse + validation"),
        (api, "check_depth", "request JSON parse + validation"),
        (api, "check_counts", "request JSON parse + validation"),
        (cdshooks, "check_counts", "request JSON parse + validation"),
        (cdshooks, "_validate", "request JSON parse + validation"),
        (cdshooks.prefetching, "resolve", "FHIR prefetch -> facts"),
        (cdshooks, "prefetch_to_resources", "FHIR prefetch -> facts"),
        (cdshooks, "_facts_and_evidence", "FHIR prefetch -> facts"),
        (api, "read_patient", "facts -> PatientFacts"),
        (cdshooks, "make_plan", "plan (engine)"),
        (api, "make_plan", "plan (engine)"),
        (CardBuilder, "plan_cards", "cards (CDS Hooks + FHIR resources)"),
        (Plan, "to_json_bytes", "response JSON"),
        (pydantic_core, "to_json", "response JSON"),
        (audit, "canonical", "audit: input hash"),
        (Store, "record_event", "audit: write (jti + event + cards, commit)"),
        # the cards' JSON (orjson.dumps called by the hook route; the plan route's is inside
        # Plan.to_json_bytes, already timed: a stand-in module avoids counting it twice)
        (cdshooks.orjson, "dumps", "response JSON"),
    ]
    for owner, name, label in steps:
        _timed(owner, name, label)
    del AppState  # (recorded through Store.record_event)
    for name in ("healthz", "plan", "hook"):
        make = cases[name]
        SECTIONS.clear()
        t0 = time.process_time()
        for i in range(n):
            loop.run_until_complete(make(i))
        total = (time.process_time() - t0) / n * 1000
        print(f"\n{name}: {total:.3f} ms CPU per request")
        named = 0.0
        for label, seconds in sorted(SECTIONS.items(), key=lambda kv: -kv[1]):
            ms = seconds / n * 1000
            named += ms
            print(f"  {label:<48}{ms:>8.3f} ms  {ms / total:>5.0%}")
        rest = total - named
        label = "the rest (HTTP framework, middleware, ASGI)"
        print(f"  {label:<48}{rest:>8.3f} ms  {rest / total:>5.0%}")
    print(f"\none ES384 verification by OpenSSL alone: {es384_verify_ms(signer):.3f} ms CPU")


def print_gc_stats(
    loop: asyncio.AbstractEventLoop, cases: dict[str, Callable[[int], Any]], n: int, variant: str
) -> None:
    """Collections caused by ``n`` plan + ``n`` patient-view calls, alternating: how many per
    generation, their total and longest pause (wall ms: the event loop waits that long)."""
    import gc

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(callback)
    t0 = time.process_time()
    for i in range(n):
        loop.run_until_complete(cases["plan"](i))
        loop.run_until_complete(cases["hook"](i))
    cpu = time.process_time() - t0
    gc.callbacks.remove(callback)
    frozen = gc.get_freeze_count()
    print(
        f"{variant or 'as shipped'}: {2 * n} requests, {cpu / (2 * n) * 1000:.3f} ms CPU each; "
        f"{frozen} objects frozen; thresholds {gc.get_threshold()}"
    )
    for generation, times in pauses.items():
        if times:
            print(
                f"  generation {generation}: {len(times)} collections, {sum(times):.1f} ms in "
                f"all, longest {max(times):.2f} ms"
            )
        else:
            print(f"  generation {generation}: no collections")
    full = []
    for _ in range(3):
        t0 = time.perf_counter()
        gc.collect()
        full.append((time.perf_counter() - t0) * 1000)
    print(f"  one full collection now (what a generation-2 collection costs): {min(full):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per endpoint")
    parser.add_argument("--profile", choices=["plan", "hook", "healthz"], default=None)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", type=Path, default=None, help="--profile: write the pstats file")
    parser.add_argument(
        "--sections",
        action="store_true",
        help="CPU ms per request by section (JWT, parsing, plan, cards, audit, JSON, the rest)",
    )
    parser.add_argument(
        "--variant",
        default="",
        help="machinery switched off (variant_server.py): no-gc-freeze, no-gc-tuning, "
        "no-raw-sqlite",
    )
    parser.add_argument(
        "--gc-stats",
        action="store_true",
        help="run the plan + patient-view mix and print the garbage collections it caused "
        "(count, total and longest pause per generation)",
    )
    args = parser.parse_args()
    if args.variant:
        from variant_server import apply

        apply(set(args.variant.split(",")))

    with warmed_app() as warmed:
        app, signer, facts, hooks = warmed.app, warmed.signer, warmed.facts, warmed.hooks
        tokens = warmed.tokens(args.n + 100)
        loop = asyncio.new_event_loop()

        def plan(i: int) -> Any:
            return _call(app, "POST", "/api/plan", facts[i % len(facts)], [])

        def hook(i: int) -> Any:
            auth = f"Bearer {tokens.pop()}".encode()
            return _call(app, "POST", HOOK_PATH, hooks[i % len(hooks)], [(b"authorization", auth)])

        def healthz(_i: int) -> Any:
            return _call(app, "GET", "/healthz", b"", [])

        cases: dict[str, Callable[[int], Any]] = {"healthz": healthz, "plan": plan, "hook": hook}
        for name, make in cases.items():  # warm-up: knowledge base, value sets, key objects
            for i in range(50):
                status = loop.run_until_complete(make(i))
                if status != 200:
                    raise SystemExit(f"{name}: HTTP {status}")
        if args.gc_stats:
            print_gc_stats(loop, cases, args.n, args.variant)
            return 0
        if args.sections:
            print_sections(loop, cases, args.n, signer)
            return 0
        if args.profile:
            make = cases[args.profile]
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(args.n):
                loop.run_until_complete(make(i))
            profiler.disable()
            if args.save:
                profiler.dump_stats(args.save)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
            print(out.getvalue())
            return 0
        print(f"{'endpoint':<10}{'CPU ms/request':>16}")
        for name, make in cases.items():
            t0 = time.process_time()
            for i in range(args.n):
                loop.run_until_complete(make(i))
            cpu = (time.process_time() - t0) / args.n * 1000
            print(f"{name:<10}{cpu:>16.3f}")
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
