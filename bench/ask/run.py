"""Benchmark ``vertebra ask``: answers per second and latency over the evaluation questions.

Baseline, measured in the same run: the plan engine alone (``plan()`` on the facts of a typical
question) — an answer to a patient question includes one such plan. Writes bench/ask/results.json.

    uv run --frozen python bench/ask/run.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from vertebra.ask import answer
from vertebra.ask.index import index
from vertebra.engine import plan
from vertebra.facts import PatientFacts

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE.parents[1] / "tests" / "ask" / "eval_questions.yaml"


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "calls": len(times),
        "per_second": round(len(times) / sum(times), 1),
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    questions = [q["question"] for q in yaml.safe_load(QUESTIONS.read_text())["questions"]]

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

    ask = _stats(ask_times)
    base = _stats(plan_times)
    results = {
        "questions": len(questions),
        "rounds": args.rounds,
        "index_build_s": round(build_s, 3),
        "ask": ask,
        "baseline_plan_only": base,
        "median_ratio_ask_over_plan": round(ask["median_ms"] / base["median_ms"], 2),
        "target_median_ms": 20,
        "meets_target": ask["median_ms"] < 20,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
