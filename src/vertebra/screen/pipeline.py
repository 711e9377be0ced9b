"""``vertebra screen``: run an engine, finish the worklist, compute KPIs, write the outputs."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vertebra.facts import LEVELS
from vertebra.screen.config import load_definition
from vertebra.screen.engines import Engine, EngineResult
from vertebra.screen.gaps import PlanGaps, coded_gaps, load_plan_engine, plan_pool
from vertebra.screen.inputs import ExportFiles, discover

# The worklist columns, in order (stable names: part of the output contract of this command).
WORKLIST_SCHEMA = pa.schema(
    [
        ("patient_id", pa.string()),
        ("patient_record_found", pa.bool_()),
        ("sex", pa.string()),
        ("birth_date", pa.date32()),
        ("age_at_fracture", pa.int64()),
        ("deceased", pa.bool_()),
        ("index_fracture_date", pa.date32()),
        ("index_fracture_site", pa.string()),
        ("index_fracture_system", pa.string()),
        ("index_fracture_code", pa.string()),
        ("vertebral_fracture", pa.bool_()),
        ("fracture_levels", pa.string()),
        ("prior_fracture_count", pa.int64()),
        ("first_fracture_date", pa.date32()),
        ("days_since_fracture", pa.int64()),
        ("dxa_date", pa.date32()),
        ("dxa_requested_date", pa.date32()),
        ("dxa_within_12_weeks", pa.bool_()),
        ("t_score_lowest", pa.float64()),
        ("medication_start_date", pa.date32()),
        ("medication_started_drug", pa.string()),
        ("medication_started_within_16_weeks", pa.bool_()),
        ("medication_at_52_weeks", pa.bool_()),
        ("current_drug", pa.string()),
        ("current_drug_date", pa.date32()),
        ("egfr", pa.float64()),
        ("egfr_date", pa.date32()),
        ("last_encounter_date", pa.date32()),
        ("gaps", pa.string()),
        ("plan_safety_gaps", pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(WORKLIST_SCHEMA.names)


@dataclass
class ScreenResult:
    worklist: pa.Table
    kpis: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def _levels(value: Any) -> str:
    present = set(value or [])
    return ";".join(lv for lv in LEVELS if lv in present)


def finish_worklist(raw: pa.Table, as_of: date, plan_gaps: PlanGaps) -> pa.Table:
    """Engine output -> the worklist: fixed columns and types, gaps, deterministic order."""
    rows = raw.to_pylist()
    for row in rows:
        row["fracture_levels"] = _levels(row.get("fracture_levels"))
        row["gaps"] = ";".join(coded_gaps(row))
    plans = plan_gaps.many(
        {**row, "fracture_levels": row["fracture_levels"].split(";")}
        if row["fracture_levels"]
        else {**row, "fracture_levels": []}
        for row in rows
    )
    for row, found in zip(rows, plans, strict=True):
        row["plan_safety_gaps"] = ";".join(found)
    # Vertebral first, then the most recent index fracture, then patient id (nulls last).
    rows.sort(key=lambda r: r["patient_id"] or "")
    rows.sort(key=lambda r: r["index_fracture_date"] or date.min, reverse=True)
    rows.sort(key=lambda r: r["vertebral_fracture"] is not True)
    cols = {name: [r.get(name) for r in rows] for name in COLUMNS}
    return pa.table(
        {n: pa.array(cols[n], type=WORKLIST_SCHEMA.field(n).type) for n in COLUMNS},
        schema=WORKLIST_SCHEMA,
    )


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def compute_kpis(
    worklist: pa.Table, result: EngineResult, as_of: date, plan_available: bool
) -> dict[str, Any]:
    d = load_definition()
    rows = worklist.to_pylist()
    n = len(rows)

    def count(col: str, value: Any = True) -> int:
        return sum(1 for r in rows if r[col] is value)

    def evaluable(col: str) -> int:
        return sum(1 for r in rows if r[col] is not None)

    with_drug = [r for r in rows if r["current_drug"] is not None]
    figures = {
        "vertebral_fracture_identified": (count("vertebral_fracture"), n),
        "dxa_within_12_weeks": (count("dxa_within_12_weeks"), evaluable("dxa_within_12_weeks")),
        "medication_started_within_16_weeks": (
            count("medication_started_within_16_weeks"),
            evaluable("medication_started_within_16_weeks"),
        ),
        "medication_at_52_weeks": (
            count("medication_at_52_weeks"),
            evaluable("medication_at_52_weeks"),
        ),
        "drug_safety_gap": (sum(1 for r in with_drug if r["plan_safety_gaps"]), len(with_drug)),
    }
    indicators = []
    for ind in d.indicators:
        num, den = figures[ind.id]
        entry: dict[str, Any] = {
            "id": ind.id,
            "title": ind.title,
            "definition": ind.definition,
            "numerator": num,
            "denominator": den,
            "percentage": _pct(num, den),
            "references": ind.references,
        }
        if ind.id == "drug_safety_gap" and not plan_available:
            entry.update(numerator=None, percentage=None, note="plan engine not available")
        indicators.append(entry)
    pop = result.population.to_pylist()[0]
    issues = sorted(
        ({"resource_type": r["resource_type"], "problem": r["flag"], "lines": int(r["n"])}
         for r in result.issues.to_pylist()),
        key=lambda r: (r["resource_type"], r["problem"]),
    )  # fmt: skip
    sites: dict[str, int] = {}
    for r in rows:
        site = r["index_fracture_site"] or "unknown"
        sites[site] = sites.get(site, 0) + 1
    return {
        "as_of": as_of.isoformat(),
        "population": {
            "patients": int(pop["patients"]),
            "fragility_fracture_patients": n,
            "vertebral_fracture_patients": count("vertebral_fracture"),
            "fracture_patients_without_patient_record": int(
                pop["fracture_patients_without_patient_record"]
            ),
            "index_fracture_sites": dict(sorted(sites.items())),
            "min_age": d.population.min_age,
        },
        "indicators": indicators,
        "time_to_treatment_days": sorted(
            (r["medication_start_date"] - r["index_fracture_date"]).days
            for r in rows
            if r["medication_start_date"] is not None and r["index_fracture_date"] is not None
        ),
        "data_quality": {"unusable_lines": issues},
    }


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(value)


def _csv_column(column: pa.ChunkedArray) -> list[str]:
    """One column as CSV text (as :func:`_csv_value`, without a call per value)."""
    values = column.to_pylist()
    if pa.types.is_string(column.type):
        return ["" if v is None else v for v in values]
    if pa.types.is_boolean(column.type):
        return ["" if v is None else ("true" if v else "false") for v in values]
    if pa.types.is_floating(column.type):
        return ["" if v is None else repr(round(v, 3)) for v in values]
    if pa.types.is_integer(column.type) or pa.types.is_date(column.type):
        return ["" if v is None else str(v) for v in values]
    return [_csv_value(v) for v in values]


def write_csv(table: pa.Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(zip(*(_csv_column(c) for c in table.columns), strict=True))


def plan_workers(export: ExportFiles) -> int:
    """Worker processes for the plan-engine checks: only for large exports (>= 256 MB), where
    thousands of patients are checked; small runs stay in one process."""
    size = sum(p.stat().st_size for files in export.files.values() for p in files)
    return min(4, os.cpu_count() or 1) if size >= 256 * 2**20 else 0


def screen(
    source: Path,
    out_dir: Path,
    engine: Engine,
    as_of: date | None = None,
    progress: Callable[[str], None] | None = None,
    export: ExportFiles | None = None,
    workers: int | None = None,
) -> ScreenResult:
    """Screen a bulk export and write worklist.csv/.parquet, kpis.json and report.html.

    ``workers``: processes for the plan-engine checks (default: :func:`plan_workers`).
    """
    from vertebra.screen.report import render_report

    as_of = as_of or date.today()
    export = export or discover(source)
    started = time.perf_counter()
    plan_fn = load_plan_engine()
    workers = plan_workers(export) if workers is None else workers
    # Started now, the workers load the knowledge base while the engine scans.
    pool = plan_pool(workers) if plan_fn is not None and workers > 1 else None
    try:
        result = engine.run(export, as_of, progress or (lambda _name: None))
        plan_gaps = PlanGaps(plan_fn, as_of, pool)
        worklist = finish_worklist(result.worklist, as_of, plan_gaps)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    kpis = compute_kpis(worklist, result, as_of, plan_gaps.available)
    kpis["run"] = {
        "engine": engine.name,
        "seconds": round(time.perf_counter() - started, 3),
        "plan_engine": "available" if plan_gaps.available else "not available",
        "plan_engine_errors": plan_gaps.errors,
    }
    kpis["data_quality"]["skipped_files"] = [
        {"file": name, "reason": reason} for name, reason in export.skipped
    ]
    kpis["data_quality"]["files_read"] = {t: len(fs) for t, fs in sorted(export.files.items())}
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "worklist.csv": out_dir / "worklist.csv",
        "worklist.parquet": out_dir / "worklist.parquet",
        "kpis.json": out_dir / "kpis.json",
        "report.html": out_dir / "report.html",
    }
    write_csv(worklist, files["worklist.csv"])
    pq.write_table(worklist, files["worklist.parquet"])
    files["kpis.json"].write_text(json.dumps(kpis, indent=2) + "\n", encoding="utf-8")
    files["report.html"].write_text(render_report(worklist, kpis), encoding="utf-8")
    return ScreenResult(worklist=worklist, kpis=kpis, files=files)


def comparable(kpis: dict[str, Any], drop: Sequence[str] = ("run",)) -> dict[str, Any]:
    """KPIs without run-specific fields (engine name, timing), for comparing engines."""
    return {k: v for k, v in kpis.items() if k not in drop}
