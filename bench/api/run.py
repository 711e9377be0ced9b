"""Load test of the JSON API and the patient-view hook on loopback, in one command.

    uv run --frozen python bench/api/run.py [--rate 500] [--duration 30] [--workers 2]

Starts ``vertebra serve`` on 127.0.0.1 (a free port; a throw-away SQLite audit store; JWT
verification ON with a generated ES384 EHR key), then drives it with locust (headless,
FastHttpUser) at a fixed total rate: half ``POST /api/plan`` with varied patient facts, half
``POST /cds-services/vertebra-patient-view`` with varied FHIR prefetch and a fresh signed JWT per
call (each jti is used once). Writes ``bench/api/results.json`` and prints requests/s and
p50/p99 latency per endpoint. Traffic never leaves the machine; the run stops by itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
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
LEVEL_CODES = {"T11": "S22.080A", "T12": "S22.080A", "L1": "S32.010A", "L2": "S32.020A",
               "L3": "S32.030A"}  # fmt: skip


def http_impl() -> str:
    """What uvicorn will use: httptools/uvloop when installed, else h11/asyncio."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http}+{loop}"


def cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and its children (from /proc; 0 elsewhere)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [root]
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        return 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


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
        for name in ("neurological_deficit", "history_of_cancer", "hospitalised",
                     "analgesia_failed"):  # fmt: skip
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
            observations.append({
                "resourceType": "Observation", "id": f"egfr-{i}", "status": "final",
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
                "effectiveDateTime": "2026-10-01",
                "valueQuantity": {"value": rng.randint(15, 110), "code": "mL/min/{1.73_m2}"},
            })  # fmt: skip
        prefetch = {
            "patient": {"resourceType": "Patient", "id": pid,
                        "gender": rng.choice(["female", "male"]), "birthDate": born},
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
                "resourceType": "Condition", "id": f"fx-{i}",
                "subject": {"reference": f"Patient/{pid}"},
                "onsetDateTime": f"2026-{rng.randint(6, 11):02d}-0{rng.randint(1, 9)}",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                     "code": LEVEL_CODES[level]}]}}}]},
            "observations": {"resourceType": "Bundle", "type": "searchset",
                             "entry": [{"resource": o} for o in observations]},
            "medicationRequests": None,
            "medicationStatements": None,
            "allergies": None,
        }  # fmt: skip
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


def read_stats(prefix: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with Path(f"{prefix}_stats.csv").open() as fh:
        for row in csv.DictReader(fh):
            out[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50_ms": float(row["50%"]),
                "p90_ms": float(row["90%"]),
                "p99_ms": float(row["99%"]),
                "max_ms": round(float(row["Max Response Time"]), 1),
                "mean_ms": round(float(row["Average Response Time"]), 1),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="total requests/s (default 500)")
    parser.add_argument("--duration", type=int, default=30, help="seconds (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--users", type=int, default=50, help="locust users (default 50)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.duration > 600 or args.rate > 5000:
        raise SystemExit("bounded: at most 600 s and 5000 requests/s")

    rng = random.Random(20261121)
    load_before = list(os.getloadavg())
    if load_before[0] > 0.5:
        print(f"note: load average {load_before[0]:.2f} before the run: other processes compete "
              "for the 2 cores and the figures will be pessimistic")  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    signer = EhrSigner(iss="https://bench-ehr.example.org", alg="ES384")
    with tempfile.TemporaryDirectory(prefix="vertebra-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ)
        env.update(
            {
                "VERTEBRA_DATABASE_URL": f"sqlite:///{tmp / 'audit.sqlite3'}",
                "VERTEBRA_TRUSTED_ISSUERS": json.dumps([signer.issuer()]),
                "VERTEBRA_LOG_LEVEL": "WARNING",
            }
        )
        env.pop("VERTEBRA_CONFIG", None)
        server_log = (tmp / "server.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-c", "from vertebra.cli import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
             "--no-access-log"],
            env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_ready(base, server)
            hooks = hook_pool(500, rng)
            facts = patient_pool(500, rng)
            aud = f"{base}/cds-services/vertebra-patient-view"
            n_tokens = int(args.rate / 2 * args.duration * 1.3) + 200
            t0 = time.perf_counter()
            tokens = [signer.token(aud, lifetime=600) for _ in range(n_tokens)]
            print(f"signed {n_tokens} ES384 JWTs in {time.perf_counter() - t0:.1f} s")
            # Warm-up: every worker loads the knowledge base and the FHIR value sets.
            with httpx.Client(base_url=base, timeout=30) as client:
                for i in range(20 * args.workers):
                    client.post("/api/plan", json=facts[i])
                    h = client.post(
                        "/cds-services/vertebra-patient-view",
                        json=hooks[i],
                        headers={"Authorization": f"Bearer {tokens.pop()}"},
                    )
                    h.raise_for_status()
            data = tmp / "data.json"
            data.write_text(json.dumps({"facts": facts, "hooks": hooks, "tokens": tokens}))
            prefix = tmp / "locust"
            locust_env = dict(os.environ, VERTEBRA_BENCH_DATA=str(data),
                              VERTEBRA_BENCH_USER_RPS=str(args.rate / args.users))  # fmt: skip
            cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
                   "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s",
                   "--host", base, "--csv", str(prefix), "--only-summary",
                   "--exit-code-on-error", "0", "--loglevel", "WARNING"]  # fmt: skip
            print(f"locust: {args.users} users, {args.rate:g} requests/s for {args.duration} s "
                  f"against {args.workers} server worker(s) on {base}")  # fmt: skip
            server_cpu = cpu_seconds(server.pid)
            before = os.times()
            subprocess.run(cmd, env=locust_env, check=True, stdout=subprocess.DEVNULL,
                           stderr=(tmp / "locust.log").open("wb"),
                           timeout=args.duration + 120)  # fmt: skip
            after = os.times()
            server_cpu = cpu_seconds(server.pid) - server_cpu
            locust_cpu = (after.children_user + after.children_system) - (
                before.children_user + before.children_system
            )
            stats = read_stats(prefix)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            server_log.close()

    total = stats.get("Aggregated", {})
    met = bool(total) and total["failures"] == 0 and total["p99_ms"] < TARGET_P99_MS \
        and total["rps"] >= 0.95 * args.rate  # fmt: skip
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "uv run --frozen python bench/api/run.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
        },
        "config": {
            "rate": args.rate,
            "duration_s": args.duration,
            "workers": args.workers,
            "users": args.users,
            "auth": "jwt (ES384)",
            "store": "sqlite",
            "http": http_impl(),
        },
        "target": {"p99_ms": TARGET_P99_MS, "rate": args.rate, "errors": 0, "met": met},
        "endpoints": stats,
        "cpu_seconds": {
            "server": round(server_cpu, 1),
            "locust": round(locust_cpu, 1),
            "server_ms_per_request": round(
                1000 * server_cpu / max(1, int(stats.get("Aggregated", {}).get("requests", 1))), 2
            ),
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"{'endpoint':<22}{'requests':>10}{'errors':>8}{'req/s':>9}{'p50 ms':>9}"
          f"{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")  # fmt: skip
    for name, s in stats.items():
        print(f"{name:<22}{s['requests']:>10}{s['failures']:>8}{s['rps']:>9}{s['p50_ms']:>9g}"
              f"{s['p90_ms']:>9g}{s['p99_ms']:>9g}{s['max_ms']:>9g}")  # fmt: skip
    cpu = result["cpu_seconds"]
    print(f"\nCPU: server {cpu['server']} s ({cpu['server_ms_per_request']} ms/request), "
          f"locust {cpu['locust']} s, over {args.duration} s on {os.cpu_count()} cores")
    verdict = "MET" if met else "NOT MET"
    print(f"\ntarget p99 < {TARGET_P99_MS:g} ms at {args.rate:g} requests/s, no errors: {verdict}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
