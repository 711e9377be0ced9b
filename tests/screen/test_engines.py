from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from vertebra.screen.engines import DuckDBEngine, SparkEngine
from vertebra.screen.pipeline import comparable, screen

AS_OF = date(2025, 6, 30)


def assert_same_outputs(duck: Path, spark: Path) -> None:
    """worklist.csv byte for byte; report.html byte for byte apart from the engine's name."""
    assert (spark / "worklist.csv").read_bytes() == (duck / "worklist.csv").read_bytes()
    html = (spark / "report.html").read_text(encoding="utf-8")
    assert "engine spark" in html
    assert html.replace("engine spark", "engine duckdb") == (duck / "report.html").read_text(
        encoding="utf-8"
    )


@pytest.mark.spark
@pytest.mark.timeout(600)
def test_spark_and_duckdb_give_identical_worklists_and_kpis(
    synthetic_export: Path, synthea_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vertebra.screen import engines

    duck = screen(synthetic_export, tmp_path / "duck", DuckDBEngine(), AS_OF)
    # the sorted worklist streams to the driver in several partitions, in order
    monkeypatch.setattr(engines, "STREAMED_ROWS_PER_PARTITION", 40)
    # Small data: one core, one shuffle partition, no adaptive re-planning and no whole-stage
    # code generation (compiling it dominates ~40 tiny jobs) keep the two runs quick; the
    # logic, not Spark's parallelism, is under test.
    spark_engine = SparkEngine(
        "local[1]",
        shuffle_partitions=1,
        conf={"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"},
    )
    spark = screen(synthetic_export, tmp_path / "spark", spark_engine, AS_OF)
    assert duck.worklist.num_rows > 50
    assert spark.held is None  # streamed to the outputs, never held whole by the driver
    assert spark.worklist.equals(duck.worklist)
    assert comparable(spark.kpis) == comparable(duck.kpis)
    assert spark.kpis["run"]["engine"] == "spark"
    assert_same_outputs(tmp_path / "duck", tmp_path / "spark")
    real = screen(synthea_dir, tmp_path / "real", spark_engine, AS_OF)
    assert real.worklist.column("patient_id").to_pylist() == [
        "a5cb8ce9-cec6-6b23-0990-cbaf753578a4"
    ]


@pytest.mark.spark
@pytest.mark.timeout(900)
def test_spark_on_a_two_executor_cluster_gives_the_duckdb_worklist(
    synthetic_export: Path, tmp_path: Path
) -> None:
    """Scale-out: a real standalone master with two worker JVMs and two executor processes
    (``local-cluster``, loopback only) computes the same worklist and KPIs as DuckDB, and the
    run records the time of every phase (the profile bench/screen prints)."""
    duck = screen(synthetic_export, tmp_path / "duck", DuckDBEngine(), AS_OF)
    engine = SparkEngine("local-cluster[2,1,1024]", shuffle_partitions=4, stop=True)
    spark = screen(synthetic_export, tmp_path / "cluster", engine, AS_OF)
    assert spark.worklist.equals(duck.worklist)
    assert comparable(spark.kpis) == comparable(duck.kpis)
    assert_same_outputs(tmp_path / "duck", tmp_path / "cluster")
    phases = spark.kpis["run"]["engine_seconds"]
    assert {
        "start",
        "patients",
        "worklist",
        "collect",
        "report_reading (Python, executors)",
        "stream worklist",
    } <= set(phases)
    assert all(v >= 0 for v in phases.values())


@pytest.mark.spark
@pytest.mark.timeout(600)
def test_a_failed_spark_job_exits_1_with_the_cause_in_one_line(
    synthetic_export: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vertebra",
            "screen",
            str(synthetic_export),
            "--engine",
            "spark",
            "--master",
            "local[1]",
            "--conf",
            "spark.sql.files.maxPartitionBytes=abc",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "Spark job failed" in errors[0] and "maxPartitionBytes" in errors[0]
    assert "Traceback" not in out.stderr


def test_spark_conf_must_be_a_spark_key(synthetic_export: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vertebra",
            "screen",
            str(synthetic_export),
            "--engine",
            "spark",
            "--conf",
            "executor.memory",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "conf: expected spark.KEY=VALUE" in out.stderr
