"""Benchmark `vertebra screen` end to end against two baselines on the same files.

    uv run --frozen python bench/screen/run.py --patients 1000000

Baselines: a plain-Python line-by-line reader (json.loads per line, same case-finding) and
DuckDB's bare scan of the same files (read_json_objects, count only). Writes results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from vertebra.screen.engines import DuckDBEngine, SparkEngine
from vertebra.screen.inputs import discover
from vertebra.screen.pipeline import screen
from vertebra.synth import REFERENCE_DATE, generate
from vertebra.terminology import load

HERE = Path(__file__).resolve().parent


def python_baseline(data: Path) -> int:
    """Line-by-line: find fracture patients and their first osteoporosis prescription."""
    export = discover(data)
    fracture = {(c.system, c.code) for c in load("fragility-fracture-other").codes}
    fracture |= {(c.system, c.code) for c in load("vertebral-fracture").codes}
    drugs = {(c.system, c.code) for c in load("osteoporosis-medication").codes}
    index: dict[str, str] = {}
    for path in export.files.get("Condition", []):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                for c in r.get("code", {}).get("coding", []):
                    if (c.get("system"), c.get("code")) in fracture:
                        pid = r["subject"]["reference"].rsplit("/", 1)[-1]
                        index[pid] = max(index.get(pid, ""), r.get("onsetDateTime", ""))
    treated: dict[str, str] = {}
    for rtype in ("Patient", "Encounter", "Observation", "Procedure", "ServiceRequest",
                  "MedicationRequest"):  # fmt: skip
        for path in export.files.get(rtype, []):
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    if rtype != "MedicationRequest":
                        continue
                    pid = r["subject"]["reference"].rsplit("/", 1)[-1]
                    for c in r.get("medicationCodeableConcept", {}).get("coding", []):
                        if pid in index and (c.get("system"), c.get("code")) in drugs:
                            treated[pid] = min(treated.get(pid, "9999"), r.get("authoredOn", ""))
    return len(index)


def duckdb_bare_scan(data: Path) -> int:
    export = discover(data)
    files = [str(p) for fs in export.files.values() for p in fs]
    con = duckdb.connect()
    rows = con.execute(
        "SELECT count(*) FROM read_json_objects($files, format = 'newline_delimited')",
        {"files": files},
    ).fetchall()
    con.close()
    return int(rows[0][0])


DATA = Path()
OUT = Path()


def _python() -> int:
    return python_baseline(DATA)


def _bare() -> int:
    return duckdb_bare_scan(DATA)


def _duck() -> int:
    return screen(DATA, OUT / "duckdb", DuckDBEngine(), REFERENCE_DATE).worklist.num_rows


def _spark() -> int:
    return screen(DATA, OUT / "spark", SparkEngine("local[2]", 8), REFERENCE_DATE).worklist.num_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/vertebra-bench"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--spark", action="store_true", help="also time the Spark engine")
    args = ap.parse_args()
    data = args.data / f"p{args.patients}-s{args.seed}"
    if not (data / "manifest.json").exists():
        t = time.perf_counter()
        generate(args.patients, data, args.seed, workers=2)
        print(f"generated {args.patients} patients in {time.perf_counter() - t:.1f}s", flush=True)
    size = sum(p.stat().st_size for p in data.iterdir())
    rows = []
    env = f"import run; run.DATA = run.Path({str(data)!r}); run.OUT = run.Path({str(args.data)!r})"
    plan = [
        ("plain Python line reader", "_python"),
        ("DuckDB bare scan", "_bare"),
        ("vertebra screen (duckdb)", "_duck"),
    ]
    if args.spark:
        plan.append(("vertebra screen (spark local[2])", "_spark"))
    for label, fn in plan:
        rows.append(_measure(label, fn, env, args.patients))
        print(json.dumps(rows[-1]), flush=True)
    by = {r["name"]: r for r in rows}
    ours = by["vertebra screen (duckdb)"]["seconds"]
    summary = {
        "patients": args.patients,
        "input_bytes": size,
        "date": date.today().isoformat(),
        "machine": "2 cores, 24 GB RAM",
        "command": f"uv run --frozen python bench/screen/run.py --patients {args.patients}"
        + (" --spark" if args.spark else ""),
        "runs": rows,
        "speedup_vs_python": round(by["plain Python line reader"]["seconds"] / ours, 1),
        "ratio_to_duckdb_bare_scan": round(ours / by["DuckDB bare scan"]["seconds"], 2),
    }
    (HERE / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n{args.patients} patients, {size / 1e9:.2f} GB")
    print(f"{'run':36} {'seconds':>9} {'patients/s':>12} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['name']:36} {r['seconds']:>9} {r['patients_per_second']:>12} "
              f"{r['peak_rss_mb']:>12}")  # fmt: skip
    print(
        f"speed-up vs plain Python: {summary['speedup_vs_python']}x; "
        f"time vs DuckDB bare scan: {summary['ratio_to_duckdb_bare_scan']}x"
    )


def _measure(label: str, fn: str, env: str, patients: int) -> dict[str, Any]:
    import subprocess

    code = (
        f"import json, sys, time, resource; sys.path.insert(0, {str(HERE)!r}); {env}; "
        f"t = time.perf_counter(); r = run.{fn}(); s = time.perf_counter() - t; "
        "rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024; "
        "print(json.dumps({'seconds': s, 'result': r, 'rss': rss}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "name": label,
        "seconds": round(data["seconds"], 2),
        "patients_per_second": round(patients / data["seconds"]),
        "result": data["result"],
        "peak_rss_mb": round(data["rss"]),
    }


if __name__ == "__main__":
    main()
