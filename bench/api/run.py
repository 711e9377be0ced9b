"""Load test of the JSON API and the patient-view hook on loopback, at a constant rate.

    apt-get install wrk            # once: the load generator (Debian's wrk 4, C + LuaJIT)
    uv run --frozen python bench/api/run.py [--rate 500] [--duration 30] [--workers 2]

Starts ``vertebra serve`` on 127.0.0.1 (a free port; a throw-away SQLite audit store; JWT
verification ON with a generated ES384 EHR key; ``--workers`` processes) and drives it with
``wrk`` paced by ``paced.lua`` to a fixed schedule (open model: a request every 1/rate s,
whatever the answers do). Three phases, in the same run (``--phases``):

1. baseline: ``GET /healthz`` at ``--rate`` requests/s (the HTTP stack alone);
2. mixed: ``POST /api/plan`` with varied patient facts at ``--rate``/2 requests/s and, at the
   same time, ``POST /cds-services/vertebra-patient-view`` with varied FHIR prefetch and a fresh
   signed JWT per call (each jti is used once) at ``--rate``/2;
3. mixed + hostile: the same mix with a slow-JWKS client and a big-Bundle client alongside.

Reports achieved requests/s, p50/p90/p99 latency, errors and sends that started late (the server
had fallen behind) per endpoint, the ratios to the baseline, the normal clients' p99 without and
with the hostile clients, the server's CPU per request and its ratio (mix / healthz), and the
floor figures (one ES384 verification, the plan engine alone, one SQLite commit: the least a
request of the mix can cost); writes ``bench/api/results.json``. ``--server reuseport`` runs
one process per worker on its own SO_REUSEPORT socket instead of ``vertebra serve`` (uvicorn's
supervisor); ``--variant`` switches a piece of the
performance machinery off (variant_server.py); compare.py runs them all interleaved.
Traffic never leaves the machine; the run stops by itself.
Without ``wrk`` it exits with status 2 and says how to install it (``--install-wrk`` runs
``apt-get install -y wrk`` when run as root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from vertebra.security.devkeys import EhrSigner

HERE = Path(__file__).resolve().parent
TARGET_P99_MS = 50.0
LEVELS = ["T11", "T12", "L1", "L2", "L3"]
# ICD-10-CM fracture codes by level (from the shipped vertebral-fracture value set).
LEVEL_CODES = {
    "T11": "S22.080A",
    "T12": "S22.080A",
    "L1": "S32.010A",
    "L2": "S32.020A",
    "L3": "S32.030A",
}


def http_impl() -> str:
    """What uvicorn will use: httptools/uvloop when installed, else h11/asyncio."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http}+{loop}"


def descendants(root: int) -> list[int]:
    """``root`` and every process below it: the workers, and their helper processes for big
    bodies (vertebra.http.offload)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_by_process(root: int) -> dict[int, tuple[float, int]]:
    """User + system CPU seconds and the nice value of a process and each one below it."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[float, int]] = {}
    for pid in descendants(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = ((int(fields[11]) + int(fields[12])) / tick, int(fields[16]))
    return out


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine so far (all cores, /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq: everything but idle and iowait
    ticks = [int(x) for x in fields[:7]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def reference_cpu_ms(rounds: int = 200) -> float:
    """CPU ms of a fixed pure-Python workload (dicts, lists, str): how fast this machine runs
    Python right now. On the shared machine it has varied by ~1.7x within an hour (another
    tenant's load on the host does not show in this machine's load average), and the server's
    CPU per request moves with it, so results.json records it next to the latencies."""

    def work() -> int:
        d: dict[str, list[Any]] = {}
        for i in range(3000):
            d[str(i)] = [i, i * 2, {"a": i}]
        return sum(len(v) for v in d.values())

    import gc

    work()
    gc.disable()  # the interpreter's speed, not this process's heap
    try:
        t0 = time.process_time()
        for _ in range(rounds):
            work()
        return round((time.process_time() - t0) / rounds * 1000, 3)
    finally:
        gc.enable()


def wait_quiet(limit_s: float, cores: float = 0.25) -> float:
    """Wait (at most ``limit_s``) until the machine's other work uses under ``cores`` CPUs
    over 3 s; returns the CPUs in use at the last look."""
    deadline = time.monotonic() + limit_s
    while True:
        before = machine_busy_seconds()
        time.sleep(3)
        used = (machine_busy_seconds() - before) / 3
        if used < cores or time.monotonic() >= deadline:
            return used
        print(f"  waiting for a quiet machine: other work uses {used:.2f} CPUs")


def cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and its children (from /proc; 0 elsewhere)."""
    return sum(cpu for cpu, _ in cpu_by_process(root).values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patient_pool(n: int, rng: random.Random) -> list[dict[str, Any]]:
    pool = []
    for _ in range(n):
        facts: dict[str, Any] = {
            "age": rng.randint(55, 95),
            "sex": rng.choice(["female", "male"]),
            "fracture_levels": sorted(rng.sample(LEVELS, rng.randint(1, 2))),
            "days_since_onset": rng.randint(0, 200),
            "mechanism": "low_energy",
            "pain_score": rng.randint(0, 10),
        }
        for name in (
            "neurological_deficit",
            "history_of_cancer",
            "hospitalised",
            "analgesia_failed",
        ):
            if rng.random() < 0.7:
                facts[name] = rng.random() < 0.2
        if rng.random() < 0.7:
            facts["creatinine_clearance"] = rng.randint(15, 110)
        if rng.random() < 0.5:
            facts["t_score"] = round(rng.uniform(-4.5, -1.0), 1)
        pool.append(facts)
    return pool


def hook_pool(n: int, rng: random.Random) -> list[dict[str, Any]]:
    pool = []
    for i in range(n):
        pid = f"bench-{i}"
        level = rng.choice(LEVELS)
        born = f"{rng.randint(1930, 1965)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        observations = []
        if rng.random() < 0.7:
            observations.append(
                {
                    "resourceType": "Observation",
                    "id": f"egfr-{i}",
                    "status": "final",
                    "subject": {"reference": f"Patient/{pid}"},
                    "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
                    "effectiveDateTime": "2026-10-01",
                    "valueQuantity": {"value": rng.randint(15, 110), "code": "mL/min/{1.73_m2}"},
                }
            )
        prefetch = {
            "patient": {
                "resourceType": "Patient",
                "id": pid,
                "gender": rng.choice(["female", "male"]),
                "birthDate": born,
            },
            "conditions": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Condition",
                            "id": f"fx-{i}",
                            "subject": {"reference": f"Patient/{pid}"},
                            "onsetDateTime": f"2026-{rng.randint(6, 11):02d}-0{rng.randint(1, 9)}",
                            "code": {
                                "coding": [
                                    {
                                        "system": "http://hl7.org/fhir/sid/icd-10-cm",
                                        "code": LEVEL_CODES[level],
                                    }
                                ]
                            },
                        }
                    }
                ],
            },
            "observations": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": o} for o in observations],
            },
            "medicationRequests": None,
            "medicationStatements": None,
            "allergies": None,
        }
        pool.append(
            {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": pid},
                "prefetch": prefetch,
            }
        )
    return pool


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up; see its log")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


HOOK_PATH = "/cds-services/vertebra-patient-view"


def start_slow_jwks(jwks: dict[str, Any], delay: float) -> str:
    """A JWKS endpoint on loopback that answers after ``delay`` seconds (a thread per call)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps(jwks).encode()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


def big_bundles() -> list[bytes]:
    """The issue's big Bundle (16,000 Conditions, 4.7 MB: under ``VERTEBRA_MAX_BODY_BYTES``,
    refused with 413 by ``VERTEBRA_MAX_BUNDLE_RESOURCES``) and one under the caps (1,900
    Conditions with longer text, 0.8 MB: planned). Until session 5 the big one had the longer
    text too (6.7 MB), and the body-size limit refused it before the resource cap was reached."""
    out = []
    for n, pad in ((16_000, 0), (1_900, 120)):
        entries: list[dict[str, Any]] = [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "big",
                    "gender": "female",
                    "birthDate": "1944-01-01",
                }
            }
        ]
        entries += [
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": f"c{i}",
                    "subject": {"reference": "Patient/big"},
                    "clinicalStatus": {"coding": [{"code": "active"}]},
                    "onsetDateTime": "2020-01-01",
                    "code": {
                        "coding": [
                            {
                                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                                "code": "S32.010A" if i == 0 else "J45.909",
                            }
                        ],
                        "text": "condition " + "x" * pad,
                    },
                }
            }
            for i in range(n)
        ]
        out.append(
            json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()
        )
    return out


def raw_request(
    method: str, path: str, host: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """One HTTP/1.1 request as bytes (keep-alive), ready for ``paced.lua``."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_requests(path: Path, requests: list[bytes], close_every: int = 0) -> Path:
    """Write the requests for ``paced.lua``; every ``close_every``-th one asks the server to
    close the connection (``Connection: close``), so that wrk reconnects."""
    with path.open("wb") as fh:
        for i, r in enumerate(requests):
            if close_every and i % close_every == close_every - 1:
                r = r.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
            fh.write(f"{len(r)}\n".encode())
            fh.write(r)
    return path


def find_wrk(install: bool) -> str:
    wrk = shutil.which("wrk")
    if wrk is None and install:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
        wrk = shutil.which("wrk")
    if wrk is None:
        print(
            "skipped: this load test needs wrk (Debian: apt-get install wrk; or run with "
            "--install-wrk as root)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return wrk


def start_wrk(
    wrk: str, base: str, requests: Path, rate: float, duration: int, connections: int, log: Path
) -> subprocess.Popen[str]:
    env = dict(os.environ, VERTEBRA_WRK_REQUESTS=str(requests), VERTEBRA_WRK_RATE=str(rate))
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(HERE / "paced.lua"),
        f"{base}/",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)


def wrk_result(proc: subprocess.Popen[str], offered: float, timeout: float) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    line = next((x for x in out.splitlines() if x.startswith("VERTEBRA_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed (exit {proc.returncode}):\n{out}")
    raw = json.loads(line.removeprefix("VERTEBRA_RESULT "))
    lat = raw["latency_us"]
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "offered_rps": offered,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "errors": errors,
        "error_kinds": raw["errors"],
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "p999_ms": round(lat["p999"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 1),
        "mean_ms": round(lat["mean"] / 1000, 2),
        "late_sends": raw["late_sends"],
        "worst_late_ms": raw["worst_late_ms"],
        "pool_wrapped": raw["pool_wrapped"],
    }


LAST_PHASE_WORKERS: list[float] = []
LAST_PHASE_HELPERS: list[float] = []


def run_phase(
    wrk: str,
    base: str,
    loads: dict[str, tuple[Path, float]],
    duration: int,
    connections: int,
    server_pid: int,
    tmp: Path,
    hostile: dict[str, tuple[Path, float, int]] | None = None,
) -> tuple[dict[str, Any], float, float, float]:
    """Run one wrk per endpoint at the same time (``hostile`` loads too, with their own
    connection counts); returns results, server and wrk CPU s."""
    cpu_before = cpu_by_process(server_pid)
    busy_before = machine_busy_seconds()
    before = os.times()
    procs = {
        name: start_wrk(
            wrk,
            base,
            path,
            rate,
            duration,
            connections,
            tmp / f"wrk-{name.replace('/', '_').replace(' ', '_')}.log",
        )
        for name, (path, rate) in loads.items()
    }
    rates = {name: rate for name, (_, rate) in loads.items()}
    for name, (path, rate, conns) in (hostile or {}).items():
        procs[name] = start_wrk(
            wrk, base, path, rate, duration, conns, tmp / f"wrk-hostile-{len(procs)}.log"
        )
        rates[name] = rate
    results = {name: wrk_result(proc, rates[name], duration + 60) for name, proc in procs.items()}
    after = os.times()
    busy = machine_busy_seconds() - busy_before
    cpu_after = cpu_by_process(server_pid)
    root_nice = cpu_after.get(server_pid, (0.0, 0))[1]
    by_pid = {pid: cpu - cpu_before.get(pid, (0.0, 0))[0] for pid, (cpu, _) in cpu_after.items()}
    # helper processes for big bodies (vertebra.http.offload) run at a lower priority
    helper_pids = {pid for pid, (_, nice) in cpu_after.items() if nice >= root_nice + 5}
    server_cpu = sum(by_pid.values())
    helpers_cpu = sum(v for pid, v in by_pid.items() if pid in helper_pids)
    workers = sorted(
        (round(v, 2) for pid, v in by_pid.items() if v > 0.05 and pid not in helper_pids),
        reverse=True,
    )
    # The busiest worker sets the tail: its share of the server's CPU shows how evenly the
    # keep-alive connections were spread.
    LAST_PHASE_WORKERS[:] = workers
    LAST_PHASE_HELPERS[:] = [round(helpers_cpu, 2)]
    print(
        "  server CPU s by process: "
        + ", ".join(f"{v:.1f}" for v in workers)
        + (f"; helper processes (big bodies) {helpers_cpu:.1f}" if helper_pids else "")
    )
    wrk_cpu = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    others = max(0.0, busy - server_cpu - wrk_cpu)
    print(f"  machine: {busy:.1f} CPU s busy, of which {others:.1f} s by other processes")
    return results, server_cpu, wrk_cpu, others


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="total requests/s (default 500)")
    parser.add_argument("--duration", type=int, default=30, help="seconds per phase (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="keep-alive connections per endpoint (default 32)",
    )
    parser.add_argument(
        "--server",
        choices=["serve", "reuseport"],
        default="serve",
        help="serve: `vertebra serve --workers N` (default; uvicorn's own supervisor); "
        "reuseport: N processes with one SO_REUSEPORT socket each (reuseport_worker.py)",
    )
    parser.add_argument(
        "--variant",
        default="",
        help="comma-separated machinery switched off in the server (variant_server.py): "
        "no-gc-freeze, no-gc-tuning, no-raw-sqlite",
    )
    parser.add_argument(
        "--phases",
        default="1,2,3",
        help="which phases to run (default 1,2,3; the CPU ratio needs 1 and 2)",
    )
    parser.add_argument(
        "--close-every",
        type=int,
        default=0,
        help="every Nth request says Connection: close (0: keep-alive throughout)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each phase, wait up to this many seconds for other work to stop",
    )
    parser.add_argument(
        "--install-wrk",
        action="store_true",
        help="apt-get install -y wrk when it is missing (root)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.duration > 600 or args.rate > 5000:
        raise SystemExit("bounded: at most 600 s per phase and 5000 requests/s")
    wrk = find_wrk(args.install_wrk)

    rng = random.Random(20261121)
    reference_before = reference_cpu_ms()
    print(f"reference workload: {reference_before} ms CPU (lower is a faster machine)")
    load_before = list(os.getloadavg())
    if load_before[0] > 0.5:
        print(
            f"note: load average {load_before[0]:.2f} before the run: other processes compete "
            "for the 2 cores and the figures will be pessimistic"
        )
    port = free_port()
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    signer = EhrSigner(iss="https://bench-ehr.example.org", alg="ES384")
    # The hostile phase: an issuer whose JWKS host answers after 3 s, and a client sending
    # tokens in that issuer's name with a key id the JWKS does not have (issue 14, item 1).
    slow_issuer = EhrSigner(iss="https://slow-jwks.example.org", alg="ES384")
    stranger = EhrSigner(iss="https://slow-jwks.example.org", alg="ES384")
    jwks_url = start_slow_jwks(slow_issuer.jwks(), delay=3.0)
    half = args.rate / 2
    with tempfile.TemporaryDirectory(prefix="vertebra-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ)
        env.update(
            {
                "VERTEBRA_DATABASE_URL": f"sqlite:///{tmp / 'audit.sqlite3'}",
                "VERTEBRA_TRUSTED_ISSUERS": json.dumps(
                    [signer.issuer(), slow_issuer.issuer(jwks_url=jwks_url)]
                ),
                "VERTEBRA_PUBLIC_BASE_URL": base,
                "VERTEBRA_LOG_LEVEL": "ERROR",
            }
        )
        env.pop("VERTEBRA_CONFIG", None)
        server_log = (tmp / "server.log").open("wb")
        if args.variant:
            env["BENCH_API_VARIANT"] = args.variant
        if args.server == "serve":
            launcher = (
                [str(HERE / "variant_server.py")]
                if args.variant
                else ["-c", "from vertebra.cli import main; main()"]
            )
            cmd = [
                sys.executable,
                *launcher,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--no-access-log",
            ]
        else:  # one process per worker, each on its own SO_REUSEPORT socket
            one = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'reuseport_worker.py'))}"
            cmd = ["sh", "-c", " & ".join([f"{one} {port}"] * args.workers) + " & wait"]
        server = subprocess.Popen(
            cmd,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_ready(base, server)
            hooks = [json.dumps(h).encode() for h in hook_pool(500, rng)]
            facts = [json.dumps(f).encode() for f in patient_pool(500, rng)]
            aud = f"{base}{HOOK_PATH}"
            n_tokens = 2 * int(half * args.duration * 1.1) + 200
            t0 = time.perf_counter()
            tokens = [signer.token(aud, lifetime=600) for _ in range(n_tokens)]
            print(f"signed {n_tokens} ES384 JWTs in {time.perf_counter() - t0:.1f} s")
            # Warm-up: every worker loads the knowledge base and the FHIR value sets.
            with httpx.Client(base_url=base, timeout=30) as client:
                for i in range(20 * args.workers):
                    client.post("/api/plan", content=facts[i]).raise_for_status()
                    client.post(
                        HOOK_PATH,
                        content=hooks[i],
                        headers={
                            "Authorization": f"Bearer {tokens.pop()}",
                            "Content-Type": "application/json",
                        },
                    ).raise_for_status()
            healthz = write_requests(
                tmp / "healthz.req",
                [raw_request("GET", "/healthz", host)] * max(1, args.close_every),
                args.close_every,
            )
            plans = write_requests(
                tmp / "plan.req",
                [raw_request("POST", "/api/plan", host, f) for f in facts],
                args.close_every,
            )
            hook_requests = [
                raw_request(
                    "POST",
                    HOOK_PATH,
                    host,
                    hooks[i % len(hooks)],
                    (("Authorization", f"Bearer {token}"),),
                )
                for i, token in enumerate(tokens)
            ]
            middle = len(hook_requests) // 2
            hook_file = write_requests(tmp / "hook.req", hook_requests[:middle], args.close_every)
            hook_file_3 = write_requests(
                tmp / "hook3.req", hook_requests[middle:], args.close_every
            )
            unknown_kid = write_requests(
                tmp / "slowjwks.req",
                [
                    raw_request(
                        "POST",
                        HOOK_PATH,
                        host,
                        hooks[i],
                        (("Authorization", f"Bearer {stranger.token(aud, lifetime=600)}"),),
                    )
                    for i in range(50)
                ],
            )
            big_file = write_requests(
                tmp / "big.req",
                [raw_request("POST", "/api/plan", host, body) for body in big_bundles()],
            )
            print(
                f"wrk (paced.lua), {args.connections} connections per endpoint, "
                f"{args.workers} server worker(s), {http_impl()}, {args.duration} s per phase"
            )
            phases = {int(x) for x in args.phases.split(",") if x.strip()}
            empty: PhaseResult = ({}, 0.0, 0.0, 0.0)
            base_run = mixed_run = hostile_run = empty
            if 1 in phases:
                print(f"phase 1 (baseline): GET /healthz at {args.rate:g} requests/s")
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet)
                base_run = run_phase(
                    wrk,
                    base,
                    {"GET /healthz": (healthz, args.rate)},
                    args.duration,
                    args.connections,
                    server.pid,
                    tmp,
                )
            mixed_workers: list[float] = []
            if 2 in phases:
                print(
                    f"phase 2 (mixed): POST /api/plan at {half:g} + patient-view at {half:g} "
                    "requests/s"
                )
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet)
                mixed_run = run_phase(
                    wrk,
                    base,
                    {"POST /api/plan": (plans, half), "POST patient-view": (hook_file, half)},
                    args.duration,
                    args.connections,
                    server.pid,
                    tmp,
                )
                mixed_workers = list(LAST_PHASE_WORKERS)
            hostile_workers: list[float] = []
            hostile_helpers = 0.0
            if 3 in phases:
                print(
                    "phase 3 (mixed + hostile): the same mix, plus a client with unknown-kid "
                    "tokens of an issuer whose JWKS host takes 3 s (10 requests/s) and a "
                    "big-Bundle client (4.7 MB / 16,000 Conditions and 0.8 MB / 1,900 "
                    "Conditions, 2 requests/s)"
                )
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet)
                hostile_run = run_phase(
                    wrk,
                    base,
                    {"POST /api/plan": (plans, half), "POST patient-view": (hook_file_3, half)},
                    args.duration,
                    args.connections,
                    server.pid,
                    tmp,
                    hostile={
                        "slow-JWKS client": (unknown_kid, 10.0, 2),
                        "big-Bundle client": (big_file, 2.0, 2),
                    },
                )
                hostile_workers = list(LAST_PHASE_WORKERS)
                hostile_helpers = LAST_PHASE_HELPERS[0] if LAST_PHASE_HELPERS else 0.0
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            server_log.close()

    base_res, base_cpu, base_wrk_cpu, base_others = base_run
    mixed, mixed_cpu, mixed_wrk_cpu, mixed_others = mixed_run
    hostile_res, hostile_cpu, _, hostile_others = hostile_run
    print("floor: the CPU of steps no server can skip, measured in this process")
    floor = floor_figures(rng, signer, aud)
    baseline = base_res.get("GET /healthz")
    for stats in mixed.values():
        if baseline:
            stats["ratio_to_baseline"] = {
                "p50": round(stats["p50_ms"] / max(baseline["p50_ms"], 1e-3), 1),
                "p99": round(stats["p99_ms"] / max(baseline["p99_ms"], 1e-3), 1),
            }
    total_requests = sum(s["requests"] for s in mixed.values())
    total_rps = round(sum(s["rps"] for s in mixed.values()), 1)

    def held(results: dict[str, Any]) -> bool:
        return bool(results) and all(
            results[k]["errors"] == 0
            and results[k]["p99_ms"] < TARGET_P99_MS
            and results[k]["rps"] >= 0.95 * half
            for k in ("POST /api/plan", "POST patient-view")
        )

    met = held(mixed)
    per_req = {
        "baseline_healthz": round(1000 * base_cpu / max(1, baseline["requests"]), 3)
        if baseline
        else None,
        "mixed_plan_and_hook": round(1000 * mixed_cpu / max(1, total_requests), 3)
        if mixed
        else None,
    }
    healthz_ms = per_req["baseline_healthz"]
    ratio = (
        round(per_req["mixed_plan_and_hook"] / max(healthz_ms, 1e-6), 2)
        if healthz_ms and per_req["mixed_plan_and_hook"]
        else None
    )
    if healthz_ms:
        # The least a plan + patient-view request can cost: the HTTP stack (what a /healthz
        # request costs), half an ES384 verification (every patient-view call carries a JWT),
        # the plan engine on the request's facts and one committed audit transaction - nothing
        # else (no parsing, FHIR mapping, cards, JSON or hashing).
        least = (
            healthz_ms
            + floor["es384_verify_ms"] / 2
            + floor["plan_engine_ms_mix"]
            + floor["sqlite_commit_ms"]
        )
        floor["least_mixed_request_ms"] = round(least, 3)
        floor["least_ratio_to_healthz"] = round(least / healthz_ms, 2)
        floor["budget_at_4x_ms"] = round(4 * healthz_ms, 3)
    capacity = (os.cpu_count() or 1) * args.duration
    contended = mixed_others > 0.1 * capacity or base_others > 0.1 * capacity
    normal = ("POST /api/plan", "POST patient-view")
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "uv run --frozen python bench/api/run.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "reference_workload_cpu_ms": {
                "before": reference_before,
                "after": reference_cpu_ms(),
            },
        },
        "config": {
            "rate": args.rate,
            "duration_s": args.duration,
            "workers": args.workers,
            "connections_per_endpoint": args.connections,
            "close_every": args.close_every,
            "server": args.server,
            "variant": args.variant or None,
            "phases": sorted(phases),
            "generator": "wrk 4 (Debian) paced to a constant rate by bench/api/paced.lua "
            "(Lua GC stopped once the request pool is loaded)",
            "auth": "jwt (ES384)",
            "store": "sqlite",
            "http": http_impl(),
        },
        "target": {"p99_ms": TARGET_P99_MS, "rate": args.rate, "errors": 0, "met": met},
        "contended": contended,
        "baseline": {"GET /healthz": baseline},
        "endpoints": mixed,
        "hostile_phase": {
            "endpoints": hostile_res,
            "normal_p99_ms": {k: hostile_res[k]["p99_ms"] for k in normal if k in hostile_res},
            "normal_p99_ms_without_hostile": {k: mixed[k]["p99_ms"] for k in normal if k in mixed},
            "server_cpu_s": round(hostile_cpu, 2),
            "server_cpu_s_by_worker": hostile_workers,
            "helper_processes_cpu_s": hostile_helpers,
            "other_processes_cpu_s": round(hostile_others, 2),
            "met": held(hostile_res),
        },
        "cpu_ratio_mixed_to_healthz": ratio,
        "floor": floor,
        "mixed_total": {"offered_rps": args.rate, "rps": total_rps, "requests": total_requests},
        "cpu_seconds": {
            "server_baseline": round(base_cpu, 2),
            "server_mixed": round(mixed_cpu, 2),
            "wrk_baseline": round(base_wrk_cpu, 2),
            "wrk_mixed": round(mixed_wrk_cpu, 2),
            "other_processes_baseline": round(base_others, 2),
            "other_processes_mixed": round(mixed_others, 2),
            "server_ms_per_request": per_req,
            "server_mixed_by_worker": mixed_workers,
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(
        f"{'endpoint':<20}{'offered':>8}{'req/s':>8}{'errors':>7}{'late':>6}{'p50 ms':>8}"
        f"{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'p50 x':>7}{'p99 x':>7}"
    )
    rows = {
        **({"GET /healthz": baseline} if baseline else {}),
        **mixed,
        **{f"3: {k}": v for k, v in hostile_res.items()},
    }
    for name, st in rows.items():
        x = st.get("ratio_to_baseline", {"p50": 1.0, "p99": 1.0})
        print(
            f"{name:<20}{st['offered_rps']:>8g}{st['rps']:>8}{st['errors']:>7}"
            f"{st['late_sends']:>6}{st['p50_ms']:>8g}{st['p90_ms']:>8g}{st['p99_ms']:>8g}"
            f"{st['max_ms']:>8g}{x['p50']:>7g}{x['p99']:>7g}"
        )
    print(
        f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"{os.cpu_count()} cores; server {args.server}"
        + (f" ({args.variant} off)" if args.variant else "")
        + f", {args.workers} worker(s)"
    )
    if mixed or hostile_res:
        print("normal clients' p99 (ms), without -> with the hostile clients:")
        for k in normal:
            without = mixed[k]["p99_ms"] if k in mixed else "-"
            with_hostile = hostile_res[k]["p99_ms"] if k in hostile_res else "-"
            print(f"  {k:<20}{without!s:>10} -> {with_hostile!s:<10}")
    if mixed and hostile_res:
        n2 = sum(mixed[k]["requests"] for k in normal)
        n3 = sum(hostile_res[k]["requests"] for k in normal)
        w2 = sum(mixed_workers) / max(1, n2) * 1000
        w3 = sum(hostile_workers) / max(1, n3) * 1000
        print(
            f"server CPU per normal request: {w2:.3f} ms without, {w3:.3f} ms with the hostile "
            "clients (the second includes the hostile clients' work)"
            + (
                f"; {hostile_helpers:.1f} CPU s in helper processes"
                if hostile_helpers > 0.05
                else ""
            )
        )
    if healthz_ms and mixed:
        cpu = result["cpu_seconds"]
        print(
            f"server CPU: {healthz_ms} ms/request (healthz), {per_req['mixed_plan_and_hook']} "
            f"ms/request (plan + patient-view); wrk CPU {cpu['wrk_mixed']} s over "
            f"{args.duration} s"
        )
        print(f"CPU ratio (plan + patient-view request / healthz request): {ratio}x (target <= 4x)")
    print(
        f"floor, CPU ms: one ES384 verification (OpenSSL) {floor['es384_verify_ms']}; plan "
        f"engine alone {floor['plan_engine_ms_plan']} (plan requests), "
        f"{floor['plan_engine_ms_hook']} (patient-view facts); one committed SQLite "
        f"transaction {floor['sqlite_commit_ms']}"
    )
    if "least_ratio_to_healthz" in floor:
        print(
            "  least possible plan + patient-view request = healthz + ES384/2 + plan engine + "
            f"one commit = {floor['least_mixed_request_ms']} ms = "
            f"{floor['least_ratio_to_healthz']}x healthz (the 4x budget is "
            f"{floor['budget_at_4x_ms']} ms)"
        )
    verdict = "MET" if met else "NOT MET"
    if contended:
        verdict += (
            " (other processes used more than 10% of the machine during the run: "
            "the figures are pessimistic)"
        )
    if mixed:
        print(f"target p99 < {TARGET_P99_MS:g} ms at {args.rate:g} requests/s: {verdict}")
    if hostile_res:
        print(
            "with the hostile clients alongside: "
            + ("MET" if result["hostile_phase"]["met"] else "NOT MET")
            + (
                f" (other processes used {hostile_others:.0f} CPU s of {capacity})"
                if hostile_others > 0.1 * capacity
                else ""
            )
        )
    print(f"results: {args.out}")
    return 0


PhaseResult = tuple[dict[str, Any], float, float, float]


def sqlite_commit_ms(rounds: int = 2000) -> float:
    """CPU ms of the least durable audit write: one committed SQLite transaction holding one
    300-byte row, on a WAL file with ``synchronous=NORMAL`` (the audit store's settings)."""
    import sqlite3

    with tempfile.TemporaryDirectory(prefix="vertebra-floor-") as tmp:
        conn = sqlite3.connect(str(Path(tmp) / "floor.sqlite3"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        row = ("x" * 300,)
        t0 = time.process_time()
        for _ in range(rounds):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (body) VALUES (?)", row)
            conn.execute("COMMIT")
        spent = time.process_time() - t0
        conn.close()
    return spent / rounds * 1000


def floor_figures(rng: random.Random, signer: EhrSigner, aud: str) -> dict[str, Any]:
    """CPU ms of the steps a plan or patient-view request cannot skip, in this process (the
    same machine, minutes apart from the load phases): one ES384 signature verification by
    OpenSSL (through ``cryptography``; a patient-view call carries a JWT) and the plan engine
    alone on the facts of the two request pools."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from vertebra.engine import plan
    from vertebra.facts import PatientFacts
    from vertebra.fhir import prefetch_to_resources, to_facts

    private = signer.key.get_op_key("sign")
    public = private.public_key()
    token = signer.token(aud, lifetime=600).encode()
    head = token.rpartition(b".")[0]  # what a JWS signature covers: header.payload
    der = private.sign(head, ec.ECDSA(hashes.SHA384()))
    rounds = 500
    t0 = time.process_time()
    for _ in range(rounds):
        public.verify(der, head, ec.ECDSA(hashes.SHA384()))
    verify_ms = (time.process_time() - t0) / rounds * 1000

    sub = random.Random(rng.random())
    facts = [PatientFacts.model_validate(f) for f in patient_pool(200, sub)]
    hook_facts = []
    for h in hook_pool(200, sub):
        prefetch = {k: v for k, v in h["prefetch"].items() if v is not None}
        hook_facts.append(to_facts(prefetch_to_resources(prefetch)).facts)

    def engine_ms(pool: list[PatientFacts]) -> float:
        for f in pool[:20]:
            plan(f)
        t0 = time.process_time()
        for _ in range(3):
            for f in pool:
                plan(f)
        return (time.process_time() - t0) / (3 * len(pool)) * 1000

    plan_ms = engine_ms(facts)
    hook_ms = engine_ms(hook_facts)
    return {
        "es384_verify_ms": round(verify_ms, 3),
        "sqlite_commit_ms": round(sqlite_commit_ms(), 3),
        "plan_engine_ms_plan": round(plan_ms, 3),
        "plan_engine_ms_hook": round(hook_ms, 3),
        "plan_engine_ms_mix": round((plan_ms + hook_ms) / 2, 3),
        "how": "process CPU time in bench/api/run.py after the load phases",
    }


if __name__ == "__main__":
    raise SystemExit(main())
