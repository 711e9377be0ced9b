from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from vertebra.screen.engines import DuckDBEngine, SparkEngine
from vertebra.screen.pipeline import comparable, screen

AS_OF = date(2025, 6, 30)


@pytest.mark.spark
@pytest.mark.timeout(600)
def test_spark_and_duckdb_give_identical_worklists_and_kpis(
    synthetic_export: Path, synthea_dir: Path, tmp_path: Path
) -> None:
    duck = screen(synthetic_export, tmp_path / "duck", DuckDBEngine(), AS_OF)
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
    assert spark.worklist.equals(duck.worklist)
    assert comparable(spark.kpis) == comparable(duck.kpis)
    assert spark.kpis["run"]["engine"] == "spark"
    real = screen(synthea_dir, tmp_path / "real", spark_engine, AS_OF)
    assert real.worklist.column("patient_id").to_pylist() == [
        "a5cb8ce9-cec6-6b23-0990-cbaf753578a4"
    ]
