"""Care gaps per worklist patient: simple coded gaps, and drug-safety gaps from the plan engine.

The plan engine (:func:`vertebra.engine.plan`) is imported lazily: without it, screening still
runs and reports that plan-engine checks were not available.
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date
from typing import Any

from pydantic import ValidationError

from vertebra.facts import DRUGS, LEVELS, PatientFacts, RecordFacts

# The engine's drug-safety check: (facts, drug) -> findings (vertebra.engine.drug_safety).
PlanFn = Callable[[PatientFacts, str], Any]


# The row fields that facts_for reads (with the cut-off date, they determine the facts).
FACT_INPUTS = (
    "sex", "birth_date", "fracture_levels", "days_since_fracture", "current_drug", "egfr",
    "t_score_lowest", "prior_fracture_count",
)  # fmt: skip


def coded_gaps(row: Mapping[str, Any]) -> list[str]:
    """Gaps visible directly in the coded data (ids, stable)."""
    gaps: list[str] = []
    if not row.get("patient_record_found"):
        gaps.append("patient_record_missing")
    if row.get("dxa_within_12_weeks") is False:
        gaps.append("no_dxa_within_12_weeks")
    if row.get("medication_started_within_16_weeks") is False:
        gaps.append("no_medication_within_16_weeks")
    if row.get("medication_at_52_weeks") is False:
        gaps.append("medication_not_continued_at_52_weeks")
    if row.get("current_drug") is None and not row.get("deceased"):
        gaps.append("no_current_osteoporosis_medication")
    return gaps


def load_plan_engine() -> PlanFn | None:
    """``vertebra.engine.drug_safety`` (the plan engine's drug-safety rows for one drug) if the
    engine is installed, else None."""
    try:
        module = importlib.import_module("vertebra.engine")
    except ImportError:
        return None
    fn = getattr(module, "drug_safety", None)
    return fn if callable(fn) else None


def facts_for(row: Mapping[str, Any], as_of: date) -> PatientFacts | None:
    """Patient facts from the coded data, or None when age/sex are not known."""
    sex = row.get("sex")
    birth = row.get("birth_date")
    if sex not in ("female", "male") or birth is None:
        return None
    age = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    levels = [lv for lv in LEVELS if lv in set(row.get("fracture_levels") or [])]
    data: dict[str, Any] = {
        "age": age,
        "sex": sex,
        "fracture_levels": levels or None,  # a record may code a fracture without its level
        "mechanism": "low_energy",
    }
    if row.get("days_since_fracture") is not None:
        data["days_since_onset"] = int(row["days_since_fracture"])
    drug = row.get("current_drug")
    if drug in DRUGS:
        data["osteoporosis_drug"] = drug
    if row.get("egfr") is not None:
        data["creatinine_clearance"] = float(row["egfr"])
    if row.get("t_score_lowest") is not None and -7 <= float(row["t_score_lowest"]) <= 4:
        data["t_score"] = float(row["t_score_lowest"])
    if row.get("prior_fracture_count") is not None:
        data["prior_fragility_fractures"] = int(row["prior_fracture_count"])
    try:
        return RecordFacts.model_validate(data)
    except ValidationError:
        return None


def drug_gaps(findings: Any, drug: str) -> list[str]:
    """``action:drug:rule`` for each safety rule that makes the drug *avoid*/*contraindicated*
    (rule: a drug-safety row id of the knowledge base, or ``allergy``)."""
    found = [
        f"{f.action}:{drug}:{f.rule}"
        for f in findings
        if getattr(f, "action", None) in ("avoid", "contraindicated")
    ]
    return sorted(set(found))


def _worker_ready() -> bool:
    """Pool warm-up: import the plan engine and load the knowledge base in the worker."""
    fn = load_plan_engine()
    if fn is None:
        return False
    from vertebra.knowledge.loader import load

    load()
    return True


def _worker_ask(batch: list[dict[str, Any]], as_of: date) -> list[list[str] | None]:
    """Plan-engine gaps for a batch of worklist rows; None where the engine failed."""
    fn = load_plan_engine()
    assert fn is not None
    out: list[list[str] | None] = []
    for row in batch:
        facts = facts_for(row, as_of)
        if facts is None:
            out.append([])
            continue
        try:
            out.append(drug_gaps(fn(facts, row["current_drug"]), row["current_drug"]))
        except Exception:  # counted by the caller, as in PlanGaps._ask
            out.append(None)
    return out


def plan_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for :meth:`PlanGaps.many`, started and warmed up (knowledge base loaded)
    at once.

    Call it before the engine runs: the workers are forked from the still single-threaded
    parent (no DuckDB/Arrow threads yet; fork, unlike spawn, does not re-run the caller's main
    script) and load the knowledge base while the engine scans.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    for _ in range(workers):
        pool.submit(_worker_ready)
    return pool


class PlanGaps:
    """Asks the plan engine about each patient's current drug; caches identical inputs.

    :meth:`prefetch` evaluates many patients at once, optionally across worker processes (the
    plan engine is pure Python: one core per process); results are identical to asking one by one.
    """

    # Below this many distinct patients a pool costs more (process start-up) than it saves.
    MIN_PARALLEL = 400
    BATCH = 200

    def __init__(self, plan_fn: PlanFn | None, as_of: date, pool: Executor | None = None) -> None:
        self.plan_fn = plan_fn
        self.as_of = as_of
        self.pool = pool
        self.errors = 0
        self._cache: dict[tuple[Any, ...], list[str]] = {}

    @property
    def available(self) -> bool:
        return self.plan_fn is not None

    def many(self, rows: Iterable[Mapping[str, Any]]) -> list[list[str]]:
        """Gaps for each row. Rows with the same inputs to the facts are evaluated once; those
        not cached yet are evaluated together, across the pool when one is given and there are
        enough of them (same results as one by one)."""
        keys: list[tuple[Any, ...] | None] = []
        todo: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            if self.plan_fn is None or row.get("current_drug") is None:
                keys.append(None)
                continue
            inputs = {f: row.get(f) for f in FACT_INPUTS}
            key = tuple(tuple(v) if isinstance(v, list) else v for v in inputs.values())
            keys.append(key)
            if key not in self._cache:
                todo.setdefault(key, inputs)
        # The pool's workers load vertebra.engine.plan themselves: only for that function.
        parallel = self.pool is not None and self.plan_fn is load_plan_engine()
        if parallel and len(todo) >= self.MIN_PARALLEL:
            assert self.pool is not None
            names = list(todo)
            batches = [
                [todo[n] for n in names[i : i + self.BATCH]]
                for i in range(0, len(names), self.BATCH)
            ]
            done = self.pool.map(_worker_ask, batches, [self.as_of] * len(batches))
            results = [r for batch in done for r in batch]
            for name, res in zip(names, results, strict=True):
                if res is None:
                    self.errors += 1
                self._cache[name] = res or []
        else:
            for name, inputs in todo.items():
                facts = facts_for(inputs, self.as_of)
                self._cache[name] = (
                    [] if facts is None else self._ask(facts, inputs["current_drug"])
                )
        return [[] if k is None else self._cache[k] for k in keys]

    def __call__(self, row: Mapping[str, Any]) -> list[str]:
        return self.many([row])[0]

    def _ask(self, facts: PatientFacts, drug: str) -> list[str]:
        assert self.plan_fn is not None
        try:
            findings = self.plan_fn(facts, drug)
        except Exception:  # an engine failure must not stop a population run; it is counted
            self.errors += 1
            return []
        return drug_gaps(findings, drug)
