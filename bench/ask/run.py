"""Benchmark ``vertebra ask``: in-process median and p95 over every evaluation question, and the
CLI wall time from a cold start.

Baselines, measured in the same run: the plan engine alone (``plan()`` on the facts of a typical
question; a patient answer includes one such plan) for the in-process figures, and
``python -m vertebra --help`` (interpreter + CLI start, no question read) for the cold start.
Writes bench/ask/results.json.

    uv run --frozen python bench/ask/run.py [--rounds N] [--cold N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from vertebra.ask import answer
from vertebra.ask.index import index
from vertebra.engine import plan
from vertebra.facts import PatientFacts

HERE = Path(__file__).resolve().parent
EVAL = HERE.parents[1] / "tests" / "ask"
QUESTION_FILES = ("eval_questions.yaml", "eval_unseen.yaml", "eval_shorthand.yaml")
COLD_QUESTION = "81F T12 #, 3/52, neuro intact, pain 7/10 on paracetamol. next steps?"


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "calls": len(times),
        "per_second": round(len(times) / sum(times), 1),
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def _cold(command: list[str], n: int) -> dict[str, float]:
    """Wall time of ``command`` started fresh ``n`` times (output discarded)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return {
        "runs": n,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
    }


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", type=int, default=3, help="cold CLI starts of each command")
    args = parser.parse_args()
    questions = [
        q["question"]
        for name in QUESTION_FILES
        for q in yaml.safe_load((EVAL / name).read_text())["questions"]
    ]

    t0 = time.perf_counter()
    index()
    build_s = time.perf_counter() - t0
    for q in questions:  # warm-up
        answer(q)

    ask_times: list[float] = []
    for _ in range(args.rounds):
        for q in questions:
            t = time.perf_counter()
            answer(q)
            ask_times.append(time.perf_counter() - t)

    facts = PatientFacts(age=70, sex="female", fracture_levels=["L2"])
    plan_times: list[float] = []
    for _ in range(args.rounds * len(questions)):
        t = time.perf_counter()
        plan(facts)
        plan_times.append(time.perf_counter() - t)

    from vertebra.language import read

    read_times: list[float] = []
    for _ in range(args.rounds):
        for q in questions:
            t = time.perf_counter()
            read(q)
            read_times.append(time.perf_counter() - t)

    cold_ask = _cold(
        [sys.executable, "-m", "vertebra", "ask", COLD_QUESTION, "--format", "json"], args.cold
    )
    cold_base = _cold([sys.executable, "-m", "vertebra", "--help"], args.cold)

    ask = _stats(ask_times)
    base = _stats(plan_times)
    results = {
        "questions": len(questions),
        "rounds": args.rounds,
        "index_build_s": round(build_s, 3),
        "ask": ask,
        "baseline_plan_only": base,
        "language_read": _stats(read_times),
        "median_ratio_ask_over_plan": round(ask["median_ms"] / base["median_ms"], 2),
        "p95_ratio_ask_over_plan": round(ask["p95_ms"] / base["p95_ms"], 2),
        "target_p95_ms": 20,
        "meets_target": ask["p95_ms"] < 20,
        "cli_cold_start_s": {
            "ask": cold_ask,
            "baseline_vertebra_help": cold_base,
            "ratio_median": round(cold_ask["median_s"] / cold_base["median_s"], 2),
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
