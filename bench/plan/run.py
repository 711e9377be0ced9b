"""Plan engine benchmark: plans per second in-process over the shipped examples.

Measures, in the same run and process (one core):
  * baseline — validate the facts JSON and serialise the validated facts back to JSON
    (the cheapest thing any adapter does with a request);
  * plan — validate the facts JSON, run ``plan()`` and serialise the plan to JSON.

Both serialise to UTF-8 bytes, what the HTTP adapter sends (``Plan.to_json_bytes``; the facts
through the same pydantic serialiser ``model_dump_json`` uses, without its decode to ``str``).

Reports plans/s, median and p99 latency per plan, and the ratio plan/baseline. Target: median
under 0.5 ms per plan including JSON serialisation. Writes bench/plan/results.json.

It also times the plan with the engine's ``_build`` fast path off (issue 15: it must earn its
place with a figure): the same plans, each output model validated by pydantic
(``model_validate``) instead of assembled from already-validated knowledge. The two give the
same JSON (checked before timing); rounds alternate between them.

    uv run --frozen python bench/plan/run.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from vertebra.engine import core, plan
from vertebra.facts import parse_facts
from vertebra.knowledge import load
from vertebra.plan import Recommendation

ROOT = Path(__file__).resolve().parents[2]
TARGET_MEDIAN_MS = 0.5
TARGET_RATIO = 25
# Contract v2 facts filled on every example that does not give them (issue 10: measure the plan
# with other medicines, allergy classes, eGFR, VTE, pregnancy and glucocorticoid facts known).
V2_FACTS: dict[str, Any] = {
    "medications": ["apixaban", "sertraline", "omeprazole"],
    "egfr": 48,
    "vte_history": False,
    "immobilised": False,
    "pregnant": False,
    "breastfeeding": False,
    "falls_last_year": 1,
    "glucocorticoid_mg_per_day": 0,
    "glucocorticoid_months": 0,
    "red_flags": [],
    "months_since_last_dose": 0,
}


def with_v2(text: str) -> str:
    facts = json.loads(text)
    for key, value in V2_FACTS.items():
        facts.setdefault(key, value)
    if "osteoporosis_drug" not in facts:
        facts["osteoporosis_drug"] = "none"
    return json.dumps(facts)


def _time(fn: Any, inputs: list[str], rounds: int) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        for text in inputs:
            start = time.perf_counter_ns()
            fn(text)
            samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def baseline(text: str) -> bytes:
    facts = parse_facts(json.loads(text))
    return facts.__pydantic_serializer__.to_json(facts)


def full(text: str) -> bytes:
    return plan(parse_facts(json.loads(text))).to_json_bytes()


def _validated(cls: Any, values: dict[str, Any]) -> Any:
    return cls.model_validate(values)


def _validated_rec(values: dict[str, Any]) -> Any:
    return Recommendation.model_validate(values)


FAST = (core._build, core._build_rec)
VALIDATED = (_validated, _validated_rec)


def _use(builders: tuple[Any, Any]) -> None:
    core._build, core._build_rec = builders


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 4),
        "per_second": round(1000 / statistics.fmean(ordered), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "plan" / "results.json")
    args = parser.parse_args()
    inputs = [with_v2(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    load()  # knowledge loading is start-up work, not per plan
    for text in inputs:  # warm up
        full(text)
    _use(VALIDATED)
    checked = [full(text) for text in inputs]
    _use(FAST)
    if checked != [full(text) for text in inputs]:
        raise SystemExit("the _build fast path and validated models give different plans")
    base_samples: list[float] = []
    plan_samples: list[float] = []
    validated_samples: list[float] = []
    for _ in range(args.rounds):  # alternate, so the machine's load falls on all three alike
        base_samples += _time(baseline, inputs, 1)
        plan_samples += _time(full, inputs, 1)
        _use(VALIDATED)
        validated_samples += _time(full, inputs, 1)
        _use(FAST)
    base = summary(base_samples)
    planned = summary(plan_samples)
    validated = summary(validated_samples)
    result = {
        "command": f"uv run --frozen python bench/plan/run.py --rounds {args.rounds}",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}, 1 core in-process",
        "examples": len(inputs),
        "baseline_validate_and_serialise_facts": base,
        "plan_validate_plan_serialise": planned,
        "ratio_plan_to_baseline_median": round(planned["median_ms"] / base["median_ms"], 1),
        "plan_without_build_fast_path": validated,
        "ratio_without_to_with_build_median": round(
            validated["median_ms"] / planned["median_ms"], 2
        ),
        "ratio_without_build_to_baseline_median": round(
            validated["median_ms"] / base["median_ms"], 1
        ),
        "target_median_ms": TARGET_MEDIAN_MS,
        "target_met": planned["median_ms"] < TARGET_MEDIAN_MS,
        "target_ratio": TARGET_RATIO,
        "ratio_target_met": planned["median_ms"] / base["median_ms"] <= TARGET_RATIO,
        "v2_facts_filled": sorted(V2_FACTS),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'run':<40}{'median ms':>10}{'p99 ms':>10}{'per s':>10}")
    for name, row in (
        ("baseline (validate + serialise facts)", base),
        ("plan (validate + plan + JSON)", planned),
        ("plan, output models validated (no _build)", validated),
    ):
        print(f"{name:<40}{row['median_ms']:>10}{row['p99_ms']:>10}{row['per_second']:>10}")
    print(
        f"_build fast path off: {result['ratio_without_to_with_build_median']}x the plan's median "
        f"({result['ratio_without_build_to_baseline_median']}x the baseline)"
    )
    print(
        f"ratio plan/baseline (median): {result['ratio_plan_to_baseline_median']}x; "
        f"target median < {TARGET_MEDIAN_MS} ms: {'met' if result['target_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
