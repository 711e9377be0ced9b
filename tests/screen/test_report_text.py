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


def test_reading_in_worker_processes_gives_the_same_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow as pa

    from vertebra.screen import reports

    texts = [
        "Acute L1 compression fracture.",
        "No compression deformity.",
        "Cannot exclude a T12 compression fracture.",
        "Old T4 and T5 wedge fractures.",
        "Acute L1 compression fracture.",
    ] * 3
    candidates = pa.table(
        {
            "patient_id": [f"p{i}" for i in range(len(texts))],
            "report_id": [f"DiagnosticReport/r{i}" for i in range(len(texts))],
            "event_date": pa.array([date(2025, 1, 1)] * len(texts), pa.date32()),
            "text": texts,
        }
    )
    serial = reports.read_candidates(candidates, workers=1)
    monkeypatch.setattr(reports, "PARALLEL_FROM", 2)
    parallel = reports.read_candidates(candidates, workers=2)  # texts split in workers
    assert parallel.equals(serial)
    monkeypatch.setattr(reports, "PARALLEL_SENTENCES_FROM", 2)
    from vertebra.language.reports import read_sentence

    read_sentence.cache_clear()  # the workers read the sentences themselves
    parallel = reports.read_candidates(candidates, workers=2)  # sentences read in workers too
    assert parallel.equals(serial)
    assert serial.column("status").to_pylist().count("affirmed") == 3 * (1 + 2 + 1)
    assert serial.column("status").to_pylist().count("uncertain") == 3


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
