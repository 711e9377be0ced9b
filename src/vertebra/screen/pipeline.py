"""``vertebra screen``: run an engine, finish the worklist, compute KPIs, write the outputs."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vertebra.facts import LEVELS
from vertebra.screen.config import load_definition
from vertebra.screen.distinct import per_combination
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
_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in WORKLIST_SCHEMA}


@dataclass
class ScreenResult:
    kpis: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    #: The finished worklist when the run held it (DuckDB); else read back from
    #: worklist.parquet on first use (Spark streams it and never holds it whole).
    held: pa.Table | None = None

    @property
    def worklist(self) -> pa.Table:
        if self.held is None:
            self.held = pq.read_table(self.files["worklist.parquet"])
        return self.held


def _levels(value: Any) -> str:
    present = set(value or [])
    return ";".join(lv for lv in LEVELS if lv in present)


_LEVEL_SET = pa.array(LEVELS, pa.string())


def _levels_column(levels: pa.ChunkedArray | pa.Array, n: int) -> pa.Array:
    """:func:`_levels` of every row of a list-of-levels column, in Arrow: each level becomes a
    bit (its place in :data:`LEVELS`, other values none), a row's distinct bits are added into a
    mask, and each distinct mask is spelt out once by :func:`_levels`."""
    if isinstance(levels, pa.ChunkedArray):
        levels = levels.combine_chunks()
    bits = pc.shift_left(pa.scalar(1, pa.int64()), pc.index_in(pc.list_flatten(levels), _LEVEL_SET))
    pairs = pa.table({"row": pc.list_parent_indices(levels), "bit": bits}).filter(pc.is_valid(bits))
    masks = (
        pairs.group_by(["row", "bit"], use_threads=False)
        .aggregate([])
        .group_by("row", use_threads=False)
        .aggregate([("bit", "sum")])
    )
    found = pc.index_in(pa.array(range(n), pa.int64()), masks.column("row"))
    mask = pc.fill_null(masks.column("bit_sum").take(found), 0)
    return per_combination(
        pa.table({"mask": mask}),
        ["mask"],
        lambda v: _levels([lv for i, lv in enumerate(LEVELS) if v["mask"] >> i & 1]),
        pa.string(),
    )


# What coded_gaps reads, with the type of a column that an engine's rows lack.
GAP_INPUTS: dict[str, pa.DataType] = {
    "patient_record_found": pa.bool_(),
    "vertebral_fracture": pa.bool_(),
    "vertebral_fracture_coded": pa.bool_(),
    "dxa_within_12_weeks": pa.bool_(),
    "medication_started_within_16_weeks": pa.bool_(),
    "medication_at_52_weeks": pa.bool_(),
    "current_drug": pa.string(),
    "deceased": pa.bool_(),
}


def _column(table: pa.Table, name: str, type: pa.DataType) -> pa.ChunkedArray | pa.Array:
    """The named column, or nulls of ``type`` when the table has none."""
    if name in table.column_names:
        return table.column(name)
    return pa.nulls(table.num_rows, type)


def finish_worklist(raw: pa.Table, as_of: date, plan_gaps: PlanGaps) -> pa.Table:
    """Engine output -> the worklist: fixed columns and types, gaps, deterministic order."""
    return _ordered(finish_rows(raw, plan_gaps))


def finish_rows(raw: pa.Table | pa.RecordBatch, plan_gaps: PlanGaps) -> pa.Table:
    """Engine rows -> worklist rows (fixed columns and types, gaps), in the same order.

    Column at a time: the levels, gaps and drug-safety gaps are computed in Python (the
    definitions in :mod:`vertebra.screen.gaps`) once per distinct combination of the columns
    they read (:func:`vertebra.screen.distinct.per_combination`); the rest is cast and
    reordered.
    """
    table = raw if isinstance(raw, pa.Table) else pa.Table.from_batches([raw])
    n = table.num_rows
    levels = _levels_column(_column(table, "fracture_levels", pa.list_(pa.string())), n)
    gap_table = pa.table(
        [_column(table, name, type) for name, type in GAP_INPUTS.items()], names=list(GAP_INPUTS)
    )
    gaps = per_combination(
        gap_table, list(GAP_INPUTS), lambda v: ";".join(coded_gaps(v)), pa.string()
    )
    facts = pa.table(
        [
            levels if name == "fracture_levels" else _column(table, name, _TYPES[name])
            for name in FACT_INPUTS
        ],
        names=list(FACT_INPUTS),
    )
    with_drug = pc.is_valid(facts.column("current_drug").combine_chunks())

    def safety_gaps(values: dict[str, Any]) -> str:
        found = values["fracture_levels"]
        row = {**values, "fracture_levels": found.split(";") if found else []}
        return ";".join(plan_gaps.many([row])[0])

    safety = pc.replace_with_mask(
        pa.repeat(pa.scalar("", pa.string()), n),
        with_drug,
        per_combination(facts.filter(with_drug), list(FACT_INPUTS), safety_gaps, pa.string()),
    )
    computed = {"fracture_levels": levels, "gaps": gaps, "plan_safety_gaps": safety}
    columns = []
    for f in WORKLIST_SCHEMA:
        if f.name in computed:
            columns.append(computed[f.name])
        elif f.name in table.column_names:
            columns.append(table.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    return pa.table(columns, schema=WORKLIST_SCHEMA)


def _ordered(table: pa.Table) -> pa.Table:
    # Vertebral first, then the most recent index fracture (unknown dates last), then patient
    # id (a missing id first). The Spark engine sorts the same way in SQL
    # (engines.WORKLIST_ORDER_SQL) and streams the rows in that order.
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
    tally = Tally()
    tally.add(worklist)
    return tally.kpis(result, as_of)


_FLAGS = (
    "vertebral_fracture",
    "dxa_within_12_weeks",
    "medication_started_within_16_weeks",
    "medication_at_52_weeks",
)


def _counts(values: pa.ChunkedArray | pa.Array) -> list[tuple[Any, int]]:
    """(value, rows) for each distinct value, null included, in order of first appearance."""
    found = pa.table({"v": values}).group_by("v", use_threads=False).aggregate([([], "count_all")])
    counts = found.column("count_all").to_pylist()
    return list(zip(found.column("v").to_pylist(), counts, strict=True))


class Tally:
    """The worklist's counts for kpis.json, added up piece by piece in worklist order (the
    Spark engine streams the worklist; the driver never holds it whole)."""

    def __init__(self) -> None:
        self.rows = 0
        self.true = dict.fromkeys(_FLAGS, 0)
        self.evaluable = dict.fromkeys(_FLAGS, 0)
        self.with_drug = 0
        self.drug_gap = 0
        self.not_coded = 0
        self.sites: dict[str, int] = {}
        self.found_by = dict.fromkeys(("coded", "report_text", "coded+report_text"), 0)
        self.days_to_treatment: list[int] = []

    def add(self, piece: pa.Table) -> None:
        def col(name: str) -> pa.ChunkedArray | pa.Array:
            return _column(piece, name, _TYPES[name])

        def count(values: pa.ChunkedArray | pa.Array) -> int:
            return int(pc.count(values).as_py())

        self.rows += piece.num_rows
        for name in _FLAGS:
            self.true[name] += count(pc.filter(col(name), col(name)))
            self.evaluable[name] += count(col(name))
        drug = pc.is_valid(col("current_drug"))
        self.with_drug += count(pc.filter(drug, drug))
        has_gap = pc.and_(drug, pc.fill_null(pc.not_equal(col("plan_safety_gaps"), ""), False))
        self.drug_gap += count(pc.filter(has_gap, has_gap))
        gaps = pa.table({"gaps": col("gaps")})
        not_coded = per_combination(
            gaps, ["gaps"], lambda v: REPORTED_NOT_CODED in (v["gaps"] or "").split(";"), pa.bool_()
        )
        self.not_coded += count(pc.filter(not_coded, not_coded))
        for site, n in _counts(col("index_fracture_site")):
            self.sites[site or "unknown"] = self.sites.get(site or "unknown", 0) + n
        for value, n in _counts(col("found_by")):
            if value in self.found_by:
                self.found_by[value] += n
        days = pc.days_between(col("index_fracture_date"), col("medication_start_date"))
        self.days_to_treatment.extend(pc.drop_null(days).to_pylist())

    def kpis(self, result: EngineResult, as_of: date) -> dict[str, Any]:
        d = load_definition()
        n = self.rows
        figures = {
            "vertebral_fracture_identified": (self.true["vertebral_fracture"], n),
            "drug_safety_gap": (self.drug_gap, self.with_drug),
        }
        for name in _FLAGS[1:]:
            figures[name] = (self.true[name], self.evaluable[name])
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
        return {
            "as_of": as_of.isoformat(),
            "population": {
                "patients": int(pop["patients"]),
                "fragility_fracture_patients": n,
                "vertebral_fracture_patients": self.true["vertebral_fracture"],
                "vertebral_fracture_reported_not_coded": self.not_coded,
                "fracture_patients_without_patient_record": int(
                    pop["fracture_patients_without_patient_record"]
                ),
                "index_fracture_sites": dict(sorted(self.sites.items())),
                "min_age": d.population.min_age,
            },
            "indicators": indicators,
            "time_to_treatment_days": sorted(self.days_to_treatment),
            "report_text": {
                "texts_read": int(pop["report_texts_read"]),
                "texts_with_trigger_words": int(pop["report_texts_with_trigger_words"]),
                "patients_found_by": dict(self.found_by),
                "vertebral_fracture_reported_not_coded": self.not_coded,
                # Not on the worklist: a report leaves a vertebral fracture possible ("cannot
                # exclude") and nothing else finds a fracture. Counted so that they can be
                # reviewed.
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

    con = duckdb.connect(":memory:")
    try:
        _copy_csv(con, table, path, header=True)
    finally:
        con.close()


def _copy_csv(con: Any, table: pa.Table, path: Path, header: bool) -> None:
    def column(f: pa.Field) -> str:
        name = '"' + str(f.name).replace('"', '""') + '"'
        if pa.types.is_string(f.type):
            return f"nullif({name}, '') AS {name}"
        if pa.types.is_floating(f.type):
            return f"round({name}, 3) AS {name}"
        return name

    con.register("worklist_arrow", table)
    target = str(path).replace("'", "''")
    con.execute(
        f"COPY (SELECT {', '.join(column(f) for f in table.schema)} FROM worklist_arrow) "
        f"TO '{target}' (FORMAT csv, HEADER {'true' if header else 'false'}, DELIMITER ',', "
        "QUOTE '\"', NULL '')"
    )
    con.unregister("worklist_arrow")


class WorklistWriter:
    """worklist.csv and worklist.parquet written piece by piece in worklist order: one piece
    (DuckDB, the whole table) or one per Arrow batch streamed from Spark. Every field of a CSV
    row is formatted on its own (:func:`write_csv`), so the pieces' CSV concatenated is the
    whole table's CSV."""

    def __init__(self, csv_path: Path, parquet_path: Path) -> None:
        import duckdb

        self.csv_path = csv_path
        self._part = csv_path.with_name(csv_path.name + ".part")
        self._con = duckdb.connect(":memory:")
        self._parquet = pq.ParquetWriter(parquet_path, WORKLIST_SCHEMA)
        self._pieces = 0

    def add(self, piece: pa.Table) -> None:
        if self._pieces == 0:
            _copy_csv(self._con, piece, self.csv_path, header=True)
        else:
            _copy_csv(self._con, piece, self._part, header=False)
            with self.csv_path.open("ab") as out, self._part.open("rb") as part:
                shutil.copyfileobj(part, out)
        self._parquet.write_table(piece)
        self._pieces += 1

    def close(self) -> None:
        if self._pieces == 0:
            _copy_csv(self._con, WORKLIST_SCHEMA.empty_table(), self.csv_path, header=True)
        self._parquet.close()
        self._con.close()
        self._part.unlink(missing_ok=True)


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
    """Screen a bulk export and write worklist.csv/.parquet, kpis.json and report.html.

    The worklist is finished, counted and written piece by piece in its final order: DuckDB
    gives the whole table (sorted here), Spark streams it already sorted, a partition at a
    time, so that the driver's memory does not grow with the number of patients."""
    from vertebra.screen.report import Preview, render

    as_of = as_of or date.today()
    export = export or discover(source)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "worklist.csv": out_dir / "worklist.csv",
        "worklist.parquet": out_dir / "worklist.parquet",
        "kpis.json": out_dir / "kpis.json",
        "report.html": out_dir / "report.html",
    }
    tally, preview = Tally(), Preview(list(COLUMNS))
    held: pa.Table | None = None
    with tempfile.TemporaryDirectory(prefix="vertebra-screen-") as work:
        export = prepare(export, Path(work))
        if engine.reads_reports_in_process:
            _preload_report_reader(export)
        result = engine.run(export, as_of, progress or (lambda _name: None))
        try:
            plan_gaps = PlanGaps(load_plan_engine(), as_of, load_safety_inputs())
            if result.ordered_batches is None:
                assert result.worklist is not None
                held = finish_worklist(result.worklist, as_of, plan_gaps)
                pieces: Iterator[pa.Table] = iter([held])
            else:
                pieces = (finish_rows(b, plan_gaps) for b in result.ordered_batches)
            writer = WorklistWriter(files["worklist.csv"], files["worklist.parquet"])
            try:
                for piece in pieces:
                    writer.add(piece)
                    tally.add(piece)
                    preview.add(piece)
            finally:
                writer.close()
        finally:
            result.close()
    kpis = tally.kpis(result, as_of)
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
    files["kpis.json"].write_text(json.dumps(kpis, indent=2) + "\n", encoding="utf-8")
    files["report.html"].write_text(render(preview, kpis), encoding="utf-8")
    return ScreenResult(kpis=kpis, files=files, held=held)


def comparable(kpis: dict[str, Any], drop: Sequence[str] = ("run",)) -> dict[str, Any]:
    """KPIs without run-specific fields (engine name, timing), for comparing engines."""
    return {k: v for k, v in kpis.items() if k not in drop}
