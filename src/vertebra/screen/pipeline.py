"""``vertebra screen``: run an engine, finish the worklist, compute KPIs, write the outputs."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vertebra.facts import LEVELS
from vertebra.screen.config import load_definition
from vertebra.screen.engines import Engine, EngineResult
from vertebra.screen.gaps import (
    FACT_INPUTS,
    REPORTED_NOT_CODED,
    PlanGaps,
    coded_gaps,
    load_plan_engine,
    load_safety_inputs,
)
from vertebra.screen.inputs import ExportFiles, discover, prepare

# The worklist columns, in order (stable names: part of the output contract of this command).
WORKLIST_SCHEMA = pa.schema(
    [
        ("patient_id", pa.string()),
        ("patient_name", pa.string()),
        ("mrn", pa.string()),
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
        ("found_by", pa.string()),
        ("evidence", pa.string()),
        ("fracture_acuity", pa.string()),
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


def _column_values(table: pa.Table) -> Callable[[str], list[Any]]:
    """A column's values as a Python list, converted once per column (all None for a column
    the table does not have)."""
    converted: dict[str, list[Any]] = {}

    def values(name: str) -> list[Any]:
        if name not in converted:
            converted[name] = (
                table.column(name).to_pylist()
                if name in table.column_names
                else [None] * table.num_rows
            )
        return converted[name]

    return values


def finish_worklist(raw: pa.Table, as_of: date, plan_gaps: PlanGaps) -> pa.Table:
    """Engine output -> the worklist: fixed columns and types, gaps, deterministic order.

    Column at a time (no per-row dictionaries of the whole table): the levels and gaps columns
    are computed in Python from the few columns they read, the rest is cast and reordered.
    """
    n = raw.num_rows
    col = _column_values(raw)
    levels = [_levels(v) for v in col("fracture_levels")]
    gap_inputs = (
        "patient_record_found",
        "vertebral_fracture",
        "vertebral_fracture_coded",
        "dxa_within_12_weeks",
        "medication_started_within_16_weeks",
        "medication_at_52_weeks",
        "current_drug",
        "deceased",
    )
    gap_cols = [col(c) for c in gap_inputs]
    gaps = [
        ";".join(coded_gaps(dict(zip(gap_inputs, vals, strict=True))))
        for vals in zip(*gap_cols, strict=True)
    ]
    drugs = col("current_drug")
    with_drug = [i for i, d in enumerate(drugs) if d is not None]
    fact_cols = {c: col(c) for c in FACT_INPUTS if c != "fracture_levels"}
    rows = []
    for i in with_drug:
        row = {c: v[i] for c, v in fact_cols.items()}
        row["fracture_levels"] = levels[i].split(";") if levels[i] else []
        rows.append(row)
    safety = [""] * n
    for i, found in zip(with_drug, plan_gaps.many(rows), strict=True):
        safety[i] = ";".join(found)
    computed = {
        "fracture_levels": pa.array(levels, pa.string()),
        "gaps": pa.array(gaps, pa.string()),
        "plan_safety_gaps": pa.array(safety, pa.string()),
    }
    columns = []
    for f in WORKLIST_SCHEMA:
        if f.name in computed:
            columns.append(computed[f.name])
        elif f.name in raw.column_names:
            columns.append(raw.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    table = pa.table(columns, schema=WORKLIST_SCHEMA)
    # Vertebral first, then the most recent index fracture (unknown dates last), then patient
    # id (a missing id first).
    keys = pa.table(
        {
            "not_vertebral": pc.invert(pc.fill_null(table["vertebral_fracture"], False)),
            "index_date": table["index_fracture_date"],
            "patient_id": pc.fill_null(table["patient_id"], ""),
        }
    )
    order = pc.sort_indices(
        keys,
        sort_keys=[
            ("not_vertebral", "ascending", "at_end"),
            ("index_date", "descending", "at_end"),
            ("patient_id", "ascending", "at_end"),
        ],
    )
    return table.take(order)


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def compute_kpis(worklist: pa.Table, result: EngineResult, as_of: date) -> dict[str, Any]:
    d = load_definition()
    n = worklist.num_rows
    col = _column_values(worklist)

    def count(name: str) -> int:
        return sum(1 for v in col(name) if v is True)

    def evaluable(name: str) -> int:
        return sum(1 for v in col(name) if v is not None)

    drug_gap = [
        g
        for drug, g in zip(col("current_drug"), col("plan_safety_gaps"), strict=True)
        if drug is not None
    ]
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
        "drug_safety_gap": (sum(1 for g in drug_gap if g), len(drug_gap)),
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
        indicators.append(entry)
    pop = result.population.to_pylist()[0]
    issues = sorted(
        (
            {"resource_type": r["resource_type"], "problem": r["flag"], "lines": int(r["n"])}
            for r in result.issues.to_pylist()
        ),
        key=lambda r: (r["resource_type"], r["problem"]),
    )
    not_coded = sum(1 for g in col("gaps") if g and REPORTED_NOT_CODED in g.split(";"))
    sites: dict[str, int] = {}
    for site in col("index_fracture_site"):
        sites[site or "unknown"] = sites.get(site or "unknown", 0) + 1
    return {
        "as_of": as_of.isoformat(),
        "population": {
            "patients": int(pop["patients"]),
            "fragility_fracture_patients": n,
            "vertebral_fracture_patients": count("vertebral_fracture"),
            "vertebral_fracture_reported_not_coded": not_coded,
            "fracture_patients_without_patient_record": int(
                pop["fracture_patients_without_patient_record"]
            ),
            "index_fracture_sites": dict(sorted(sites.items())),
            "min_age": d.population.min_age,
        },
        "indicators": indicators,
        "time_to_treatment_days": sorted(
            (started - index).days
            for started, index in zip(
                col("medication_start_date"), col("index_fracture_date"), strict=True
            )
            if started is not None and index is not None
        ),
        "report_text": {
            "texts_read": int(pop["report_texts_read"]),
            "texts_with_trigger_words": int(pop["report_texts_with_trigger_words"]),
            "patients_found_by": {
                k: sum(1 for v in col("found_by") if v == k)
                for k in ("coded", "report_text", "coded+report_text")
            },
            "vertebral_fracture_reported_not_coded": not_coded,
            # Not on the worklist: a report leaves a vertebral fracture possible ("cannot
            # exclude") and nothing else finds a fracture. Counted so that they can be reviewed.
            "patients_with_only_uncertain_report_text": int(
                pop["patients_with_only_uncertain_report_text"]
            ),
        },
        "data_quality": {"unusable_lines": issues},
    }


def write_csv(table: pa.Table, path: Path) -> None:
    """The table as CSV, written by DuckDB: a header row; booleans ``true``/``false``; ISO dates;
    numbers rounded to 3 decimals; an empty field for both a null and an empty string; a field
    quoted only when it holds a comma, a quote or a line break."""
    import duckdb

    def column(f: pa.Field) -> str:
        name = '"' + str(f.name).replace('"', '""') + '"'
        if pa.types.is_string(f.type):
            return f"nullif({name}, '') AS {name}"
        if pa.types.is_floating(f.type):
            return f"round({name}, 3) AS {name}"
        return name

    con = duckdb.connect(":memory:")
    try:
        con.register("worklist_arrow", table)
        target = str(path).replace("'", "''")
        con.execute(
            f"COPY (SELECT {', '.join(column(f) for f in table.schema)} FROM worklist_arrow) "
            f"TO '{target}' (FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', NULL '')"
        )
    finally:
        con.close()


# Resource types without which whole parts of the screen cannot find anything.
REQUIRED_FOR = {
    "Condition": "no coded fracture can be found",
    "MedicationRequest": "no osteoporosis treatment can be seen (every patient looks untreated)",
}


def export_warnings(export: ExportFiles) -> list[str]:
    """What this export cannot show (written to kpis.json, report.html and standard error)."""
    warnings = [
        f"no {rtype} files in the export: {consequence}"
        for rtype, consequence in REQUIRED_FOR.items()
        if not export.files.get(rtype)
    ]
    if export.unreadable:
        warnings.append(
            f"{len(export.unreadable)} file(s) could not be read and were left out: "
            + ", ".join(name for name, _ in export.unreadable)
        )
    return warnings


def _preload_report_reader(export: ExportFiles) -> None:
    """Import and build the report reader (spaCy, medspaCy: seconds of CPU) on a thread while
    the engine parses the export, when the export has report files."""
    if not (export.files.get("DiagnosticReport") or export.files.get("DocumentReference")):
        return
    import threading

    from vertebra.language.reports import load

    threading.Thread(target=load, name="load-report-reader", daemon=True).start()


def screen(
    source: Path,
    out_dir: Path,
    engine: Engine,
    as_of: date | None = None,
    progress: Callable[[str], None] | None = None,
    export: ExportFiles | None = None,
) -> ScreenResult:
    """Screen a bulk export and write worklist.csv/.parquet, kpis.json and report.html."""
    from vertebra.screen.report import render_report

    as_of = as_of or date.today()
    export = export or discover(source)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vertebra-screen-") as work:
        export = prepare(export, Path(work))
        _preload_report_reader(export)
        result = engine.run(export, as_of, progress or (lambda _name: None))
    plan_gaps = PlanGaps(load_plan_engine(), as_of, load_safety_inputs())
    worklist = finish_worklist(result.worklist, as_of, plan_gaps)
    kpis = compute_kpis(worklist, result, as_of)
    kpis["run"] = {
        "engine": engine.name,
        "seconds": round(time.perf_counter() - started, 3),
        "plan_engine_errors": plan_gaps.errors,
        "engine_seconds": result.timings,
    }
    kpis["data_quality"]["skipped_files"] = [
        {"file": name, "reason": reason} for name, reason in export.skipped
    ]
    kpis["data_quality"]["unreadable_files"] = [
        {"file": name, "reason": reason} for name, reason in export.unreadable
    ]
    kpis["data_quality"]["cleaned_files"] = [
        {"file": name, "change": change} for name, change in export.cleaned
    ]
    kpis["data_quality"]["files_read"] = {t: len(fs) for t, fs in sorted(export.files.items())}
    kpis["warnings"] = export_warnings(export)
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
