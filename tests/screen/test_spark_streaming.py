"""The Spark engine streams the ordered worklist to the outputs in pieces (one Arrow batch at a
time). Piecewise and whole-table writing must give the same files and figures: checked here
on DuckDB's worklist cut into small pieces, without starting Spark."""

from __future__ import annotations

import functools
from collections.abc import Callable
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


def test_spark_steps_start_only_after_their_inputs_and_errors_stop_the_run() -> None:
    import threading
    import time

    import pytest

    from vertebra.screen.engines import _run_concurrently

    finished: list[str] = []
    started: dict[str, set[str]] = {}
    lock = threading.Lock()

    def step(name: str, pause: float) -> float:
        with lock:
            started[name] = set(finished)
        time.sleep(pause)
        with lock:
            finished.append(name)
        return pause

    deps = {"a": set(), "b": set(), "c": {"a"}, "d": {"b", "c"}}
    steps: dict[str, Callable[[], float]] = {
        n: functools.partial(step, n, 0.05 if n == "a" else 0.01) for n in deps
    }
    shown: list[str] = []
    seconds = _run_concurrently(steps, deps, shown.append)
    assert set(seconds) == set(deps) and sorted(shown) == sorted(deps)
    for name, inputs in deps.items():
        assert inputs <= started[name]
    assert started["b"] == set()  # b did not wait for a: independent steps overlap

    def boom() -> float:
        raise ValueError("step c failed")

    with pytest.raises(ValueError, match="step c failed"):
        _run_concurrently({**steps, "c": boom}, deps, lambda _n: None)


def test_spark_step_inputs_are_earlier_statements_and_the_report_reading() -> None:
    from vertebra.screen import logic, reports
    from vertebra.screen.engines import SPARK_READING, _checkpointed, _dependencies

    statements = logic.statements(AS_OF)
    deps = _dependencies(statements)
    order = [s.name for s in statements]
    for i, name in enumerate(order):
        assert deps[name] - {SPARK_READING} <= set(order[:i])
    assert deps[SPARK_READING] == {reports.AFTER_STATEMENT}
    assert {"condition_events", SPARK_READING} <= deps["fractures"]
    assert {"dxa", "current_drug", "index_fracture"} <= deps["worklist"]
    keep = _checkpointed(statements)
    assert {"report_texts", "worklist", "index_fracture"} <= keep
    assert "dxa" not in keep  # read by the worklist only: a view
