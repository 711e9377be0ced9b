"""Screening report text: vertebral fractures no one coded, with the sentence as evidence."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from vertebra.screen.engines import DuckDBEngine, SparkEngine
from vertebra.screen.pipeline import comparable, screen

AS_OF = date(2025, 6, 30)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _dr(rid: str, pid: str, **body: Any) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-03-01",
        **body,
    }


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def report_export(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    ids = ["coded", "plain", "b64", "html", "docref", "negated", "unsure", "rib", "young", "hip"]
    _write(
        root / "Patient.000.ndjson",
        [
            {
                "resourceType": "Patient",
                "id": p,
                "gender": "female",
                "birthDate": "2000-01-01" if p == "young" else "1945-05-05",
            }
            for p in ids
        ],
    )
    _write(
        root / "Condition.000.ndjson",
        [
            {
                "resourceType": "Condition",
                "id": "c1",
                "subject": {"reference": "Patient/coded"},
                "code": {"coding": [{"system": ICD, "code": "S32.010A"}]},
                "onsetDateTime": "2025-01-05",
            },
            {
                "resourceType": "Condition",
                "id": "c2",
                "subject": {"reference": "Patient/hip"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "359817006"}]},
                "onsetDateTime": "2025-01-05",
            },
        ],
    )
    _write(root / "MedicationRequest.000.ndjson", [])
    _write(
        root / "DiagnosticReport.000.ndjson",
        [
            _dr("r-coded", "coded", conclusion="Acute L1 compression fracture with marrow oedema."),
            _dr(
                "r-plain",
                "plain",
                conclusion="Lungs clear. Age-indeterminate anterior wedge "
                "deformity of a midthoracic vertebra.",
            ),
            _dr(
                "r-b64",
                "b64",
                presentedForm=[
                    {
                        "contentType": "text/plain; charset=utf-8",
                        "data": _b64(
                            "IMPRESSION:\n1. Old T11-L1 compression fractures.\n2. No effusion."
                        ),
                    }
                ],
            ),
            _dr(
                "r-html",
                "html",
                presentedForm=[
                    {
                        "contentType": "text/html",
                        "data": _b64(
                            "<html><p>Heart normal.</p>"
                            "<p>Moderate <b>biconcave</b> fracture of T8.</p></html>"
                        ),
                    }
                ],
            ),
            _dr(
                "r-neg",
                "negated",
                conclusion="No compression deformity. Vertebral body heights are maintained.",
            ),
            _dr(
                "r-unsure", "unsure", conclusion="Cannot exclude a subtle T12 compression fracture."
            ),
            _dr(
                "r-rib",
                "rib",
                conclusion="Healed fractures of the left fifth and sixth ribs. "
                "Wedge-shaped opacity in the right upper lobe.",
            ),
            _dr("r-young", "young", conclusion="Acute L2 compression fracture."),
            _dr("r-hip", "hip", conclusion="Chronic T7 wedge deformity."),
            _dr("r-err", "plain", status="entered-in-error", conclusion="Acute T4 crush fracture."),
            _dr(
                "r-pdf",
                "rib",
                presentedForm=[{"contentType": "application/pdf", "data": _b64("%PDF")}],
            ),
        ],
    )
    _write(
        root / "DocumentReference.000.ndjson",
        [
            {
                "resourceType": "DocumentReference",
                "id": "d1",
                "status": "current",
                "subject": {"reference": "Patient/docref"},
                "date": "2024-11-02",
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": _b64("Vertebra plana of L3."),
                        }
                    }
                ],
            },
        ],
    )
    return root


def test_report_text_finds_uncoded_vertebral_fractures_with_evidence(tmp_path: Path) -> None:
    result = screen(report_export(tmp_path / "x"), tmp_path / "out", DuckDBEngine(), AS_OF)
    rows = {r["patient_id"]: r for r in result.worklist.to_pylist()}
    assert set(rows) == {"coded", "plain", "b64", "html", "docref", "hip"}
    assert rows["coded"]["found_by"] == "coded+report_text"
    assert rows["coded"]["evidence"] == (
        "DiagnosticReport/r-coded: Acute L1 compression fracture with marrow oedema."
    )
    assert rows["coded"]["fracture_acuity"] == "acute"
    assert "vertebral_fracture_reported_not_coded" not in rows["coded"]["gaps"]
    for pid in ("plain", "b64", "html", "docref"):
        assert rows[pid]["found_by"] == "report_text", pid
        assert rows[pid]["vertebral_fracture"] is True
        assert rows[pid]["gaps"].startswith("vertebral_fracture_reported_not_coded")
        assert rows[pid]["index_fracture_system"] == "report_text"
    assert rows["plain"]["fracture_levels"] == ""
    assert rows["plain"]["fracture_acuity"] == "age_indeterminate"
    assert rows["plain"]["evidence"].endswith("deformity of a midthoracic vertebra.")
    assert rows["b64"]["fracture_levels"] == "T11;T12;L1"
    assert rows["b64"]["evidence"] == "DiagnosticReport/r-b64: 1. Old T11-L1 compression fractures."
    assert rows["html"]["fracture_levels"] == "T8"
    assert rows["docref"]["evidence"] == "DocumentReference/d1: Vertebra plana of L3."
    assert rows["docref"]["index_fracture_date"] == date(2024, 11, 2)
    # A coded hip fracture and a vertebral fracture in text: both; the vertebral one not coded.
    assert rows["hip"]["found_by"] == "coded+report_text"
    assert "vertebral_fracture_reported_not_coded" in rows["hip"]["gaps"]
    k = result.kpis
    assert k["population"]["vertebral_fracture_reported_not_coded"] == 5
    assert k["report_text"]["patients_found_by"] == {
        "coded": 0,
        "report_text": 4,
        "coded+report_text": 2,
    }
    assert k["report_text"]["texts_read"] == 12
    assert k["report_text"]["patients_with_only_uncertain_report_text"] == 1  # "unsure"
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "vertebral fracture reported, not coded" in html
    assert "DocumentReference/d1: Vertebra plana of L3." in html


def _candidates(texts: list[str], patients: list[str] | None = None) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "patient_id": patients or [f"p{i}" for i in range(len(texts))],
            "report_id": [f"DiagnosticReport/r{i}" for i in range(len(texts))],
            "event_date": pa.array([date(2025, 1, 1)] * len(texts), pa.date32()),
            "text": texts,
        }
    )


def test_batched_reading_gives_the_findings_in_the_candidates_order() -> None:
    from vertebra.screen import reports

    texts = [
        "No compression deformity.",
        "Acute L1 compression fracture.",
        "Cannot exclude a T12 compression fracture.",
        "FINDINGS: Normal alignment.\n\nIMPRESSION:\n1. Old T4 and T5 wedge fractures.\n"
        "2. No acute fracture.",
        "Acute L1 compression fracture.",  # a repeated text: read once, one row per report
        "Wedge-shaped opacity in the right upper lobe.",
    ] * 3
    found = reports.read_candidates(_candidates(texts))
    rows = [
        (r["report_id"].split("/r")[1], r["status"], r["level"], r["acuity"])
        for r in found.to_pylist()
    ]
    per_round = [
        ("1", "affirmed", "L1", "acute"),
        ("2", "uncertain", None, None),
        ("3", "affirmed", "T4", "old"),
        ("3", "affirmed", "T5", "old"),
        ("4", "affirmed", "L1", "acute"),
    ]
    expected = [(str(int(i) + 6 * k), *rest) for k in range(3) for i, *rest in per_round]
    assert rows == expected
    assert found.column("sentence").to_pylist()[2] == "1. Old T4 and T5 wedge fractures."
    assert found.schema == reports.FINDINGS_SCHEMA


def test_a_report_read_twice_gives_each_finding_once_from_its_first_text() -> None:
    """A report's conclusion is repeated with each of its attachments: one row per (patient,
    report, status, level), taken from the first candidate row that gives it."""
    import pyarrow as pa

    from vertebra.screen import reports

    texts = [
        "Old L2 wedge fracture.",
        "Acute L2 and L3 compression fractures.",  # same report: L2 already found, L3 is new
        "Old L2 wedge fracture.",  # another report of the same patient
        "No fracture.",
    ]
    candidates = pa.table(
        {
            "patient_id": ["p1", "p1", "p1", "p2"],
            "report_id": [f"DiagnosticReport/{r}" for r in "aabc"],
            "event_date": pa.array([date(2025, 1, d) for d in (1, 2, 3, 4)], pa.date32()),
            "text": texts,
        }
    )
    found = reports.read_candidates(candidates)
    assert [
        (r["report_id"][-1], r["level"], r["acuity"], r["event_date"].day)
        for r in found.to_pylist()
    ] == [("a", "L2", "old", 1), ("a", "L3", "acute", 2), ("b", "L2", "old", 3)]
    assert reports.read_candidates(candidates.slice(3)).num_rows == 0


def test_batched_reading_equals_the_evaluated_reader_on_the_evaluation_set() -> None:
    """The screen's path (distinct texts, distinct sentences read in batches, each distinct
    list of sentences judged once) gives every report of the 375-item evaluation set the
    reading that docs/screening.md scores (read_report, one report at a time)."""
    from vertebra import yamlfile
    from vertebra.language.reports import read_report, read_sentence, read_sentences, sentences
    from vertebra.screen import reports

    items = [
        i
        for batch in ("dev", "heldout", "after")
        for i in yamlfile.safe_load(
            (Path(__file__).parent / "data" / f"report_eval_{batch}.yaml").read_text("utf-8")
        )
    ]
    texts = [str(i["t"]) for i in items]
    assert len(texts) >= 375
    found = reports.read_candidates(_candidates(texts, [str(i["id"]) for i in items]))
    got: dict[str, set[tuple[str, str | None, str | None, str]]] = {}
    for r in found.to_pylist():
        got.setdefault(r["patient_id"], set()).add(
            (r["status"], r["level"], r["acuity"], r["sentence"])
        )
    for item, text in zip(items, texts, strict=True):
        r = read_report(text)
        want: set[tuple[str, str | None, str | None, str]] = set()
        if r.verdict == "yes":
            levels: list[str | None] = list(r.levels) or [None]
            want = {("affirmed", lv, r.acuity, r.evidence or "") for lv in levels}
        elif r.verdict == "uncertain":
            first = next(m for m in r.mentions if m.status == "uncertain")
            want = {("uncertain", None, first.acuity, first.sentence)}
        assert got.get(str(item["id"]), set()) == want, item["id"]
    every = [s for t in texts for s in sentences(t)]
    assert read_sentences(every) == [read_sentence(s) for s in every]


def test_the_reader_starts_without_running_nltk_which_still_works_when_used() -> None:
    """medspaCy imports QuickUMLS, which imports nltk (~0.4 CPU-s); the reader defers it."""
    import subprocess
    import sys

    code = (
        "import sys; from vertebra.language.reports import load, read_report; load(); "
        "print(type(sys.modules['nltk']).__name__); "
        "print(read_report('Acute L1 compression fracture.').verdict); "
        "import nltk; print(type(nltk.__version__).__name__); "
        "print(type(sys.modules['nltk']).__name__); "
        "from quickumls import core; print(core.nltk.corpus.__name__)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["_Deferred", "yes", "str", "module", "nltk.corpus"]


def test_the_reader_is_built_with_the_collector_paused_and_restored() -> None:
    """The pipeline's build pauses the cyclic collector (its objects are long-lived) and puts
    it back as it found it, enabled or not; in a fresh process, so that the build happens."""
    import subprocess
    import sys

    code = (
        "import gc, sys\n"
        "from vertebra.language import reports\n"
        "seen = []\n"
        "real = reports.build\n"
        "def spy(*a, **k):\n"
        "    seen.append(gc.isenabled())\n"
        "    return real(*a, **k)\n"
        "reports.build = spy\n"
        "if sys.argv[1] == 'off':\n"
        "    gc.disable()\n"
        "reports.load(); reports.load()\n"
        "print(seen, gc.isenabled())\n"
    )
    for state, after in (("on", "True"), ("off", "False")):
        run = subprocess.run(
            [sys.executable, "-c", code, state], capture_output=True, text=True, check=True
        )
        assert run.stdout.split() == ["[False]", after], state


@pytest.mark.spark
@pytest.mark.timeout(900)
def test_spark_gives_the_same_report_text_outputs(tmp_path: Path) -> None:
    root = report_export(tmp_path / "x")
    spark = SparkEngine(
        "local[1]",
        shuffle_partitions=1,
        conf={"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"},
    )
    duck = screen(root, tmp_path / "d", DuckDBEngine(), AS_OF)
    other = screen(root, tmp_path / "s", spark, AS_OF)
    assert other.worklist.equals(duck.worklist)
    assert comparable(other.kpis) == comparable(duck.kpis)
