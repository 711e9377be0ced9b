from __future__ import annotations

import csv
import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vertebra.screen.engines import DuckDBEngine
from vertebra.screen.inputs import ExportError, discover
from vertebra.screen.pipeline import COLUMNS, screen

OSTEOPOROTIC = "a5cb8ce9-cec6-6b23-0990-cbaf753578a4"
AS_OF = date(2025, 6, 30)


def test_real_synthea_export_finds_the_osteoporotic_fracture(
    synthea_dir: Path, tmp_path: Path
) -> None:
    result = screen(synthea_dir, tmp_path, DuckDBEngine(), AS_OF)
    rows = result.worklist.to_pylist()
    assert [r["patient_id"] for r in rows] == [OSTEOPOROTIC]
    row = rows[0]
    assert row["index_fracture_date"] == date(2018, 10, 18)
    assert row["index_fracture_site"] == "forearm"
    assert row["age_at_fracture"] == 91
    assert row["medication_started_drug"] == "alendronate"
    assert row["medication_started_within_16_weeks"] is True
    assert row["dxa_within_12_weeks"] is False
    assert "no_dxa_within_12_weeks" in row["gaps"].split(";")
    assert result.kpis["population"]["patients"] == 13
    skipped = {f["file"] for f in result.kpis["data_quality"]["skipped_files"]}
    assert "Immunization.000.ndjson" in skipped
    # Synthea's clinical notes (DocumentReference, base64 text/plain) are read as report text;
    # none describes a vertebral fracture.
    assert result.kpis["data_quality"]["files_read"]["DocumentReference"] == 1
    assert result.kpis["report_text"]["texts_read"] == 1215
    assert row["found_by"] == "coded" and row["evidence"] is None


def test_outputs_are_written_and_consistent(synthetic_export: Path, tmp_path: Path) -> None:
    result = screen(synthetic_export, tmp_path, DuckDBEngine(), AS_OF)
    with (tmp_path / "worklist.csv").open(encoding="utf-8") as fh:
        lines = list(csv.reader(fh))
    assert tuple(lines[0]) == COLUMNS
    assert len(lines) - 1 == result.worklist.num_rows > 50
    ids = [r[0] for r in lines[1:]]
    assert len(set(ids)) == len(ids)
    assert pq.read_table(tmp_path / "worklist.parquet").equals(result.worklist)
    kpis = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))
    for ind in kpis["indicators"]:
        if ind["numerator"] is not None:
            assert 0 <= ind["numerator"] <= ind["denominator"]
            expected = round(100 * ind["numerator"] / ind["denominator"], 1)
            assert ind["percentage"] == (expected if ind["denominator"] else None)
    # Vertebral fractures come first; within each group the newest fracture first.
    vert = [r["vertebral_fracture"] for r in result.worklist.to_pylist()]
    assert vert == sorted(vert, reverse=True)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "Care funnel" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "").split("<table>")[0]
    assert "<script src" not in html and "<link" not in html


def test_indicator_windows_follow_the_data(synthetic_export: Path, tmp_path: Path) -> None:
    rows = screen(synthetic_export, tmp_path, DuckDBEngine(), AS_OF).worklist.to_pylist()
    for r in rows:
        if r["dxa_within_12_weeks"]:
            assert 0 <= (r["dxa_date"] - r["index_fracture_date"]).days <= 84
        if r["medication_started_within_16_weeks"]:
            assert 0 <= (r["medication_start_date"] - r["index_fracture_date"]).days <= 112
        if r["medication_started_within_16_weeks"] is None and r["index_fracture_date"]:
            assert (AS_OF - r["index_fracture_date"]).days <= 112
        assert r["age_at_fracture"] is None or r["age_at_fracture"] >= 50


def test_bad_lines_are_counted_and_no_patient_is_dropped(synthea_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "export"
    shutil.copytree(synthea_dir, src)
    (src / "Patient.000.ndjson").chmod(0o644)
    # Break the osteoporotic patient's Patient line, and add junk to the conditions (gzipped).
    text = (src / "Patient.000.ndjson").read_text(encoding="utf-8").splitlines()
    text = [line[:40] if OSTEOPOROTIC in line else line for line in text]
    (src / "Patient.000.ndjson").write_text("\n".join(text) + "\n", encoding="utf-8")
    cond = (src / "Condition.000.ndjson").read_bytes() + (
        b'{"resourceType": "Condition", broken\n'
        b'{"resourceType":"Observation","id":"x","subject":{"reference":"Patient/p"}}\n'
        b"not json at all\n"
    )
    (src / "Condition.000.ndjson").unlink()
    (src / "Condition.000.ndjson.gz").write_bytes(gzip.compress(cond))
    (src / "Mystery.000.ndjson").write_text('{"resourceType":"Mystery"}\n', encoding="utf-8")
    result = screen(src, tmp_path / "out", DuckDBEngine(), AS_OF)
    rows = result.worklist.to_pylist()
    assert [r["patient_id"] for r in rows] == [OSTEOPOROTIC]
    assert rows[0]["patient_record_found"] is False
    assert "patient_record_missing" in rows[0]["gaps"]
    issues = {
        (q["resource_type"], q["problem"]): q["lines"]
        for q in result.kpis["data_quality"]["unusable_lines"]
    }
    assert issues == {
        ("Patient", "malformed"): 1,
        ("Condition", "malformed"): 2,
        ("Condition", "wrong_type"): 1,
    }
    skipped = {f["file"]: f["reason"] for f in result.kpis["data_quality"]["skipped_files"]}
    assert "Mystery" in skipped["Mystery.000.ndjson"]
    assert result.kpis["population"]["fracture_patients_without_patient_record"] == 1


def test_manifest_input_gives_the_same_worklist(synthetic_export: Path, tmp_path: Path) -> None:
    by_folder = screen(synthetic_export, tmp_path / "a", DuckDBEngine(), AS_OF)
    by_manifest = screen(synthetic_export / "manifest.json", tmp_path / "b", DuckDBEngine(), AS_OF)
    assert by_folder.worklist.equals(by_manifest.worklist)


def test_missing_or_empty_input_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        discover(tmp_path / "nope")
    with pytest.raises(ExportError, match="no FHIR NDJSON"):
        discover(tmp_path)


def test_plan_checks_evaluated_once_per_combination_match_one_by_one(
    synthetic_export: Path, tmp_path: Path
) -> None:
    from vertebra.screen.gaps import (
        PlanGaps,
        drug_gaps,
        facts_for,
        load_plan_engine,
        load_safety_inputs,
    )

    plan_fn = load_plan_engine()
    rows = screen(synthetic_export, tmp_path, DuckDBEngine(), AS_OF).worklist.to_pylist()
    for r in rows:
        r["fracture_levels"] = r["fracture_levels"].split(";") if r["fracture_levels"] else []
    with_drug = [r for r in rows if r["current_drug"]]
    assert with_drug
    # Renal function on both sides of each drug's thresholds (30 and 35 mL/min), and unknown.
    for i, egfr in enumerate([20.0, 29.9, 30.0, 34.9, 35.0, 60.0, None] * 3):
        drug = ("alendronate", "risedronate", "denosumab", "zoledronic_acid")[i % 4]
        rows.append(
            {
                **with_drug[i % len(with_drug)],
                "sex": "female",
                "birth_date": date(1961, 5, 31),
                "current_drug": drug,
                "egfr": egfr,
                "fracture_levels": ["L1"],
                "days_since_fracture": 100 + i,
                "prior_fracture_count": i % 3,
            }
        )
    gaps = PlanGaps(plan_fn, AS_OF, load_safety_inputs())
    found = gaps.many(rows)
    # The oracle: the plan engine asked about each patient, without any cache.
    expected = []
    for r in rows:
        facts = facts_for(r, AS_OF) if r["current_drug"] else None
        expected.append(
            [] if facts is None else drug_gaps(plan_fn(facts, r["current_drug"]), r["current_drug"])
        )
    assert found == expected
    # (denosumab in advanced CKD is expert-supervised, not avoided: 2024 FDA boxed warning)
    assert any(g.startswith("avoid:alendronate:") for gs in found for g in gs)
    assert gaps.errors == 0
    # Each combination of drug and safety inputs was evaluated once: far fewer than patients.
    assert 0 < gaps.evaluated < len([r for r in rows if r["current_drug"]])
    # Keyed on whole facts (no inputs function), and one by one: the same answers.
    whole = PlanGaps(plan_fn, AS_OF)
    assert whole.many(rows) == expected
    single = PlanGaps(plan_fn, AS_OF, load_safety_inputs())
    assert [single(r) for r in rows] == expected


def test_csv_quotes_only_what_needs_it_and_keeps_every_value(tmp_path: Path) -> None:
    from vertebra.screen.pipeline import write_csv

    table = pa.table(
        {
            "patient_id": ["a,b", 'q"z', "line\nbreak", "", None, "plain"],
            "flag": [True, False, None, True, True, False],
            "egfr": [45.0, -2.5, None, 0.0004, 33.33333, 120.0],
            "when": pa.array([date(2024, 1, 2), None, None, None, None, date(2025, 12, 31)]),
            "n": pa.array([1, None, 3, 4, 5, 6], pa.int64()),
        }
    )
    write_csv(table, tmp_path / "w.csv")
    text = (tmp_path / "w.csv").read_text(encoding="utf-8")
    assert text.splitlines()[:3] == [
        "patient_id,flag,egfr,when,n",
        '"a,b",true,45.0,2024-01-02,1',
        '"q""z",false,-2.5,,',
    ]
    with (tmp_path / "w.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert [r[0] for r in rows] == ["a,b", 'q"z', "line\nbreak", "", "", "plain"]
    assert [r[2] for r in rows] == ["45.0", "-2.5", "", "0.0", "33.333", "120.0"]
    assert rows[-1] == ["plain", "false", "120.0", "2025-12-31", "6"]
