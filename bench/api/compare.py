"""Does each piece of the server's performance machinery earn its place? ``run.py`` (phases 1
and 2) once per configuration, interleaved over several rounds, in one command:

    uv run --frozen python bench/api/compare.py [--rounds 2] [--duration 20] [--rate 500]

Configurations: ``serve`` (``vertebra serve --workers 2`` as shipped: uvicorn's own supervisor;
until 2026-12-01 it was compared here with our least-connections balancer, which it replaced),
and ``serve`` with one piece switched off (bench/api/variant_server.py):
``no-gc-freeze``, ``no-gc-tuning`` (no freeze and Python's default GC thresholds) and
``no-raw-sqlite`` (audit writes through SQLAlchemy Core). Prints, per configuration, the server
CPU per request (healthz and the plan + patient-view mix; the figure that other load on the
machine disturbs least), the CPU ratio and the p99 latencies (median over the rounds), and
writes ``bench/api/compare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIGS: dict[str, list[str]] = {
    "serve": ["--server", "serve"],
    "serve, no gc.freeze": ["--server", "serve", "--variant", "no-gc-freeze"],
    "serve, no GC tuning": ["--server", "serve", "--variant", "no-gc-tuning"],
    "serve, no raw sqlite3": ["--server", "serve", "--variant", "no-raw-sqlite"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--only", default="", help="comma-separated configuration names")
    parser.add_argument("--out", type=Path, default=HERE / "compare.json")
    args = parser.parse_args()
    names = [n for n in CONFIGS if not args.only or n in args.only.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for round_no in range(args.rounds):
        for name in names:
            out = Path(f"/tmp/vertebra-compare-{os.getpid()}-{round_no}.json")
            cmd = [
                sys.executable,
                str(HERE / "run.py"),
                "--phases",
                "1,2",
                "--duration",
                str(args.duration),
                "--rate",
                str(args.rate),
                "--out",
                str(out),
                *CONFIGS[name],
            ]
            print(f"round {round_no + 1}: {name} (load {os.getloadavg()[0]:.2f})", flush=True)
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{name}: run.py failed")
            runs[name].append(json.loads(out.read_text()))
            out.unlink()
    rows = {}
    for name, results in runs.items():
        per = [r["cpu_seconds"]["server_ms_per_request"] for r in results]
        rows[name] = {
            "healthz_cpu_ms": statistics.median(p["baseline_healthz"] for p in per),
            "mixed_cpu_ms": statistics.median(p["mixed_plan_and_hook"] for p in per),
            "cpu_ratio": statistics.median(r["cpu_ratio_mixed_to_healthz"] for r in results),
            "plan_p99_ms": statistics.median(
                r["endpoints"]["POST /api/plan"]["p99_ms"] for r in results
            ),
            "hook_p99_ms": statistics.median(
                r["endpoints"]["POST patient-view"]["p99_ms"] for r in results
            ),
            "rps": statistics.median(r["mixed_total"]["rps"] for r in results),
            "workers_cpu_s": [r["cpu_seconds"]["server_mixed_by_worker"] for r in results],
            "other_processes_cpu_s": [r["cpu_seconds"]["other_processes_mixed"] for r in results],
        }
    print(
        f"\n{'configuration':<24}{'healthz ms':>11}{'mix ms':>8}{'ratio':>7}{'plan p99':>10}"
        f"{'hook p99':>10}{'req/s':>7}  other CPU-s / worker CPU-s"
    )
    for name, row in rows.items():
        print(
            f"{name:<24}{row['healthz_cpu_ms']:>11.3f}{row['mixed_cpu_ms']:>8.3f}"
            f"{row['cpu_ratio']:>7.2f}{row['plan_p99_ms']:>10.1f}{row['hook_p99_ms']:>10.1f}"
            f"{row['rps']:>7.0f}  {row['other_processes_cpu_s']} / {row['workers_cpu_s']}"
        )
    args.out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": "uv run --frozen python bench/api/compare.py " + " ".join(sys.argv[1:]),
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "rounds": args.rounds,
                "duration_s": args.duration,
                "rate": args.rate,
                "configurations": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
