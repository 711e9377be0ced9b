"""The Spark engine streams the ordered worklist to the outputs in pieces (one Arrow batch at a
time). Piecewise and whole-table writing must give the same files and figures: checked here
on DuckDB's worklist cut into small pieces, without starting Spark."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vertebra.screen.engines import DuckDBEngine
from vertebra.screen.pipeline import (
    COLUMNS,
    WORKLIST_SCHEMA,
    Tally,
    WorklistWriter,
    screen,
    write_csv,
)
from vertebra.screen.report import PREVIEW_ROWS, Preview

AS_OF = date(2025, 6, 30)


def test_the_worklist_written_in_pieces_equals_the_whole(
    synthetic_export: Path, tmp_path: Path
) -> None:
    whole = screen(synthetic_export, tmp_path / "whole", DuckDBEngine(), AS_OF)
    worklist = whole.worklist
    assert worklist.num_rows > 2 * PREVIEW_ROWS  # the preview is chosen across pieces
    out = tmp_path / "pieces"
    out.mkdir()
    writer = WorklistWriter(out / "worklist.csv", out / "worklist.parquet")
    tally, preview = Tally(), Preview(list(COLUMNS))
    for start in range(0, worklist.num_rows, 7):
        piece = worklist.slice(start, 7)
        writer.add(piece)
        tally.add(piece)
        preview.add(piece)
    writer.close()
    assert (out / "worklist.csv").read_bytes() == whole.files["worklist.csv"].read_bytes()
    assert pq.read_table(out / "worklist.parquet").equals(worklist)
    one_tally, one_preview = Tally(), Preview(list(COLUMNS))
    one_tally.add(worklist)
    one_preview.add(worklist)
    assert vars(tally) == vars(one_tally)
    assert preview.preview == one_preview.preview
    assert [r["priority"] for r in preview.preview] == list(range(1, PREVIEW_ROWS + 1))
    assert preview.reported == one_preview.reported
    assert preview.total_rows == worklist.num_rows
    assert not (out / "worklist.csv.part").exists()


def test_an_empty_stream_writes_the_header_and_an_empty_parquet(tmp_path: Path) -> None:
    writer = WorklistWriter(tmp_path / "worklist.csv", tmp_path / "worklist.parquet")
    writer.close()
    write_csv(WORKLIST_SCHEMA.empty_table(), tmp_path / "expected.csv")
    assert (tmp_path / "worklist.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()
    assert (tmp_path / "worklist.csv").read_text().startswith("patient_id,patient_name,")
    table = pq.read_table(tmp_path / "worklist.parquet")
    assert table.num_rows == 0 and table.schema.equals(WORKLIST_SCHEMA)
    assert isinstance(table, pa.Table)
