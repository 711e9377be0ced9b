"""Screening never loses a case: bad exports are read, counted and reported, not dropped."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from vertebra.screen import logic
from vertebra.screen.engines import DuckDBEngine, Engine, SparkEngine
from vertebra.screen.inputs import discover
from vertebra.screen.pipeline import comparable, screen

AS_OF = date(2025, 6, 30)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
L1 = {"coding": [{"system": ICD, "code": "S32.010A"}]}


def _patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1940-02-03"}


def _condition(cid: str, ref: Any, code: Any = L1) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": ref},
        "code": code,
        "onsetDateTime": "2025-01-10",
    }


def _write(path: Path, rows: list[dict[str, Any]], bom: bool = False) -> None:
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def _bad_export(root: Path) -> Path:
    """Every shape of bad input the issue lists, in one small export."""
    root.mkdir(parents=True, exist_ok=True)
    _write(
        root / "Patient.000.ndjson",
        [_patient(p) for p in ("bom-first", "a", "obj", "str", "c/d", "5")],
        bom=True,
    )
    _write(
        root / "Condition.000.ndjson",
        [
            _condition("c0", "Patient/bom-first"),  # first line after a byte order mark
            _condition("c1", "Patient/a"),
            _condition("c2", "Patient/obj", {"coding": {"system": ICD, "code": "S32.010A"}}),
            _condition("c3", "Patient/str", "S32.010A"),
            _condition("c4", "Patient/c/d"),  # an id with a slash, kept whole
            _condition("c5", "5"),  # a bare number is not a Patient reference
            _condition("c6", "Patient/a", {"coding": []}),
        ],
        bom=True,
    )
    _write(root / "MedicationRequest.000.ndjson", [])
    return root


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``vertebra`` as a real process (exit codes as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "vertebra", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _issues(kpis: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (q["resource_type"], q["problem"]): q["lines"]
        for q in kpis["data_quality"]["unusable_lines"]
    }


def test_bad_shapes_are_counted_and_references_read_whole(tmp_path: Path) -> None:
    result = screen(_bad_export(tmp_path / "x"), tmp_path / "out", DuckDBEngine(), AS_OF)
    ids = sorted(result.worklist.column("patient_id").to_pylist())
    assert ids == ["a", "bom-first", "c/d"]
    assert all(result.worklist.column("patient_record_found").to_pylist())
    assert _issues(result.kpis) == {
        ("Condition", "no_coding"): 3,  # coding an object, code a string, coding empty
        ("Condition", "not_a_patient_reference"): 1,
    }
    assert result.kpis["population"]["patients"] == 6  # the first Patient line is not lost
    cleaned = {f["file"] for f in result.kpis["data_quality"]["cleaned_files"]}
    assert cleaned == {"Patient.000.ndjson", "Condition.000.ndjson"}


def test_patient_references_in_other_forms(tmp_path: Path) -> None:
    root = tmp_path / "x"
    root.mkdir()
    _write(root / "Patient.000.ndjson", [_patient(p) for p in ("u1", "h1", "p1")])
    _write(
        root / "Condition.000.ndjson",
        [
            _condition("a", "urn:uuid:u1"),
            _condition("b", "https://ehr.example.org/fhir/Patient/h1"),
            _condition("c", "Patient/p1"),
            _condition("d", "Group/7"),
            _condition("e", "Patient/"),
        ],
    )
    result = screen(root, tmp_path / "out", DuckDBEngine(), AS_OF)
    assert sorted(result.worklist.column("patient_id").to_pylist()) == ["h1", "p1", "u1"]
    assert all(result.worklist.column("patient_record_found").to_pylist())
    assert _issues(result.kpis) == {("Condition", "not_a_patient_reference"): 2}


def test_bad_gzip_files_are_skipped_counted_and_fail_only_with_strict(tmp_path: Path) -> None:
    root = tmp_path / "x"
    root.mkdir()
    _write(root / "Patient.000.ndjson", [_patient("a")])
    good = gzip.compress((json.dumps(_condition("c1", "Patient/a")) + "\n").encode())
    (root / "Condition.000.ndjson.gz").write_bytes(good)
    big = "".join(json.dumps(_condition(f"t{i}", "Patient/a")) + "\n" for i in range(2000))
    (root / "Condition.001.ndjson.gz").write_bytes(gzip.compress(big.encode())[:-300])
    (root / "Condition.002.ndjson.gz").write_bytes(b"this is not gzip at all\n")
    _write(root / "MedicationRequest.000.ndjson", [])
    args = [
        "screen",
        str(root),
        "--out",
        str(tmp_path / "o"),
        "--as-of",
        "2025-06-30",
        "--no-progress",
    ]
    ok = _cli(*args)
    assert ok.returncode == 0, ok.stderr
    kpis = json.loads((tmp_path / "o" / "kpis.json").read_text(encoding="utf-8"))
    bad = {f["file"]: f["reason"] for f in kpis["data_quality"]["unreadable_files"]}
    assert set(bad) == {"Condition.001.ndjson.gz", "Condition.002.ndjson.gz"}
    assert "truncated" in bad["Condition.001.ndjson.gz"]
    assert bad["Condition.002.ndjson.gz"] == "not a gzip file"
    assert any("2 file(s) could not be read" in w for w in kpis["warnings"])
    assert "could not be read" in ok.stderr
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "Condition.001.ndjson.gz" in html
    strict = _cli(*args, "--strict")
    assert strict.returncode == 2
    assert "source: 2 file(s) could not be read" in strict.stderr
    # The good file was still read.
    assert (tmp_path / "o" / "worklist.csv").read_text(encoding="utf-8").count("\na,") == 1


def test_manifest_urls_are_confined_to_the_export_folder(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    _write(root / "Patient.000.ndjson", [_patient("a")])
    outside = tmp_path / "Condition.secret.ndjson"
    _write(outside, [_condition("c", "Patient/a")])
    (root / "Condition.link.ndjson").symlink_to(outside)
    manifest = {
        "output": [
            {"type": "Patient", "url": "Patient.000.ndjson"},
            {"type": "Condition", "url": "file:///etc/passwd"},
            {"type": "Condition", "url": "../Condition.secret.ndjson"},
            {"type": "Condition", "url": "sub/../../Condition.secret.ndjson"},
            {"type": "Condition", "url": f"file://{outside}"},
            {"type": "Condition", "url": "Condition.link.ndjson"},
            {"type": "Condition", "url": "https://fhir.example.org/files/Condition.link.ndjson"},
        ]
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    export = discover(root / "manifest.json")
    assert [p.name for p in export.files["Patient"]] == ["Patient.000.ndjson"]
    assert "Condition" not in export.files
    reasons = [reason for _, reason in export.skipped]
    assert reasons == ["outside the export folder (not read)"] * 6


def test_out_that_is_a_file_or_unwritable_exits_2(tmp_path: Path) -> None:
    root = _bad_export(tmp_path / "x")
    a_file = tmp_path / "f.txt"
    a_file.write_text("x", encoding="utf-8")
    for out, words in (
        (a_file, "is not a folder"),
        (a_file / "sub", "cannot write"),
        (Path("/proc/vertebra-out"), "cannot write"),
    ):
        r = _cli("screen", str(root), "--out", str(out), "--no-progress")
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("error: out: ") and str(out) in r.stderr and words in r.stderr
        assert "internal error" not in r.stderr


def test_missing_condition_or_medication_files_warn_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "x"
    root.mkdir()
    _write(root / "Patient.000.ndjson", [_patient("a")])
    r = _cli("screen", str(root), "--out", str(tmp_path / "o"), "--no-progress")
    assert r.returncode == 0, r.stderr
    kpis = json.loads((tmp_path / "o" / "kpis.json").read_text(encoding="utf-8"))
    assert [w.split(":")[0] for w in kpis["warnings"]] == [
        "no Condition files in the export",
        "no MedicationRequest files in the export",
    ]
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "no Condition files in the export" in html and 'role="alert"' in html
    assert "warning: no Condition files in the export" in r.stderr
    assert "warning: no MedicationRequest files" in r.stderr


class _Stmt:
    def __init__(self, query: str) -> None:
        self.query = query


def test_statement_split_does_not_depend_on_where_comments_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sql = (
        "-- leading comment\nCREATE TEMP TABLE a AS\n-- inside\nSELECT 1 AS x;\n"
        "-- between\n\nCREATE TEMP VIEW b AS SELECT x FROM a;\n-- trailing\n"
    )
    monkeypatch.setattr(logic, "render", lambda _as_of: sql)
    expected = [("a", True, "SELECT 1 AS x"), ("b", False, "SELECT x FROM a")]
    # DuckDB's own splitter (whatever the installed release does with the comments) ...
    got = [(s.name, s.materialise, s.select) for s in logic.statements(AS_OF)]
    assert got == expected
    # ... and both placements seen across releases: comments after a statement (1.x), comments
    # before the next one (2.0.1).
    import duckdb

    for parts in (
        [
            "CREATE TEMP TABLE a AS\n-- inside\nSELECT 1 AS x\n-- between\n",
            "\nCREATE TEMP VIEW b AS SELECT x FROM a\n-- trailing\n",
        ],
        [
            "-- leading comment\nCREATE TEMP TABLE a AS\n-- inside\nSELECT 1 AS x",
            "\n-- between\n\nCREATE TEMP VIEW b AS SELECT x FROM a",
        ],
    ):
        split = [_Stmt(q) for q in parts]
        monkeypatch.setattr(duckdb, "extract_statements", lambda _sql, s=split: s)
        got = [(s.name, s.materialise, s.select) for s in logic.statements(AS_OF)]
        assert got == expected


@pytest.mark.spark
@pytest.mark.timeout(600)
def test_both_engines_read_bad_exports_the_same(tmp_path: Path) -> None:
    root = _bad_export(tmp_path / "x")
    spark: Engine = SparkEngine(
        "local[1]",
        shuffle_partitions=1,
        conf={"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"},
    )
    duck = screen(root, tmp_path / "d", DuckDBEngine(), AS_OF)
    other = screen(root, tmp_path / "s", spark, AS_OF)
    assert other.worklist.equals(duck.worklist)
    assert comparable(other.kpis) == comparable(duck.kpis)
