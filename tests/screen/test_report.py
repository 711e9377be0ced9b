"""report.html and the /fls page read the worklist the same way (vertebra.screen.labels)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.screen.test_pipeline import AS_OF
from vertebra.screen import labels
from vertebra.screen.engines import DuckDBEngine
from vertebra.screen.pipeline import screen
from vertebra.screen.report import histogram


def test_report_worklist_is_for_people(synthetic_export: Path, tmp_path: Path) -> None:
    result = screen(synthetic_export, tmp_path, DuckDBEngine(), AS_OF)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    table = html.split('<table class="worklist">', 1)[1].split("</table>", 1)[0]
    headers = re.findall(r'<th scope="col">([^<]*)</th>', table)
    assert headers[:6] == ["Priority", "Name", "MRN", "Patient", "Care gaps", "Plan safety"]
    assert not any("_" in h for h in headers)
    assert "True" not in table and "False" not in table and "true" not in table
    assert "http" not in table and "no_dxa" not in table
    # ordered by priority: first the rows with a plan-safety gap, then by the number of gaps
    rows = result.worklist.to_pylist()
    ranked = labels.by_priority(rows)
    first = re.findall(r"<tr><td>1</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", table)
    assert first == [(ranked[0]["patient_name"], ranked[0]["mrn"], ranked[0]["patient_id"])]
    assert ranked[0]["patient_name"].startswith("Pat")  # the synthetic export has names and MRNs
    counts = [(not r["plan_safety_gaps"], -len(labels.gap_list(r["gaps"]))) for r in ranked]
    assert counts == sorted(counts)
    # every shown column is explained
    for h in headers:
        assert f"<dt><strong>{h}</strong></dt>" in html


def test_cells_read_as_words() -> None:
    assert labels.cell("vertebral_fracture", True) == "yes"
    assert labels.cell("deceased", "false") == "no"
    assert labels.cell("index_fracture_system", "http://snomed.info/sct") == "SNOMED CT"
    assert labels.gap_list("no_dxa_within_12_weeks;no_current_osteoporosis_medication") == [
        "No DXA within 12 weeks",
        "No current osteoporosis medicine",
    ]
    assert labels.safety_list("avoid:alendronate:safety-alendronate-renal") == [
        "Avoid alendronate (rule safety-alendronate-renal)"
    ]


def test_histogram_has_no_always_empty_bin() -> None:
    svg = str(histogram([0, 13, 14, 111, 112], 14, 8))
    assert "16+" not in svg
    assert "<title>14-16 weeks: 2</title>" in svg  # day 112 is in the last closed bin
    assert "<title>0-2 weeks: 2</title>" in svg
    wider = str(histogram([200], 14, 8))  # a later value widens the axis instead of hiding
    assert "<title>14-16 weeks: 0</title>" in wider and "weeks: 1</title>" in wider


def test_every_worklist_column_is_labelled_in_file_order() -> None:
    from vertebra.screen.pipeline import COLUMNS

    assert [c for c in labels.COLUMNS if c != "priority"] == list(COLUMNS)
    assert all(heading and meaning for heading, meaning in labels.COLUMNS.values())
