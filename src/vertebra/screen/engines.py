"""Run the screening SQL on DuckDB (embedded, default) or Apache Spark (local or a cluster).

Both engines read the same files with the same schema (:mod:`vertebra.screen.schema`), load the
same value-set table and run the same statements (:mod:`vertebra.screen.logic`); they return
Arrow tables that :mod:`vertebra.screen.pipeline` turns into the outputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import pyarrow as pa

from vertebra.errors import require_extra
from vertebra.screen import logic, reports, schema
from vertebra.screen.inputs import ExportFiles

Progress = Callable[[str], None]


@dataclass
class EngineResult:
    worklist: pa.Table
    issues: pa.Table
    population: pa.Table


class Engine(Protocol):
    name: str

    def run(
        self,
        export: ExportFiles,
        as_of: date,
        progress: Progress,
        read_reports: reports.Reader = reports.read_candidates,
    ) -> EngineResult: ...


def _codes_table() -> pa.Table:
    rows = logic.code_rows()
    columns = list(zip(*rows, strict=True))
    types = [pa.string()] * 5 + [pa.int32()] + [pa.string()] * 2
    return pa.table(
        {n: pa.array(c, type=t) for n, c, t in zip(logic.CODE_COLUMNS, columns, types, strict=True)}
    )


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit

    def run(
        self,
        export: ExportFiles,
        as_of: date,
        progress: Progress,
        read_reports: reports.Reader = reports.read_candidates,
    ) -> EngineResult:
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            if self.memory_limit:
                con.execute(f"SET memory_limit = '{self.memory_limit}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            for rtype in schema.RESOURCES:
                self._register(con, rtype, export.files.get(rtype, []))
            codes = _codes_table()
            con.register("vs_codes_arrow", codes)
            con.execute("CREATE TEMP TABLE vs_codes AS SELECT * FROM vs_codes_arrow")
            for st in logic.statements(as_of):
                progress(st.name)
                kind = "TABLE" if st.materialise else "VIEW"
                con.execute(f"CREATE TEMP {kind} {st.name} AS {st.sql('duckdb')}")
                if st.name == reports.AFTER_STATEMENT:
                    found = read_reports(con.sql(reports.CANDIDATES_SQL).to_arrow_table())
                    con.register("report_findings_arrow", found)
                    con.execute(f"CREATE TEMP TABLE {reports.FINDINGS_TABLE} AS "
                                "SELECT * FROM report_findings_arrow")  # fmt: skip
            return EngineResult(
                worklist=con.sql("SELECT * FROM worklist").to_arrow_table(),
                issues=con.sql("SELECT * FROM issues").to_arrow_table(),
                population=con.sql("SELECT * FROM population").to_arrow_table(),
            )
        finally:
            con.close()

    @staticmethod
    def _register(con: Any, rtype: str, files: list[Any]) -> None:
        table = schema.table_name(rtype)
        columns = schema.duckdb_columns(rtype)
        if not files:
            cols = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in columns.items())
            con.execute(f"CREATE TEMP VIEW {table} AS SELECT {cols} WHERE false")
            return
        paths = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"
        cols_sql = "{" + ", ".join(f"'{c}': '{t}'" for c, t in columns.items()) + "}"
        con.execute(
            f"CREATE TEMP VIEW {table} AS SELECT * FROM read_json({paths}, "
            f"format = 'newline_delimited', columns = {cols_sql}, ignore_errors = true, "
            "maximum_object_size = 67108864)"
        )


class SparkEngine:
    name = "spark"

    def __init__(
        self,
        master: str | None = None,
        shuffle_partitions: int | None = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        self.master = master or "local[*]"
        self.shuffle_partitions = shuffle_partitions
        self.conf = dict(conf or {})

    def session(self) -> Any:
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
        parts = self.shuffle_partitions or (8 if self.master.startswith("local") else 200)
        builder = (
            SparkSession.builder.master(self.master)
            .appName("vertebra-screen")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(parts))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.driver.memory", os.environ.get("VERTEBRA_SPARK_DRIVER_MEMORY", "4g"))
        )
        for key, value in self.conf.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()

    def run(
        self,
        export: ExportFiles,
        as_of: date,
        progress: Progress,
        read_reports: reports.Reader = reports.read_candidates,
    ) -> EngineResult:
        spark = self.session()
        spark.sparkContext.setLogLevel("ERROR")
        cached: list[Any] = []
        try:
            for rtype in schema.RESOURCES:
                ddl = schema.spark_ddl(rtype)
                files = [str(p) for p in export.files.get(rtype, [])]
                if files:
                    df = spark.read.schema(ddl).option("mode", "PERMISSIVE").json(files)
                else:
                    df = spark.createDataFrame([], schema=ddl)
                df.createOrReplaceTempView(schema.table_name(rtype))
            spark.createDataFrame(_codes_table()).createOrReplaceTempView("vs_codes")
            for st in logic.statements(as_of):
                progress(st.name)
                df = spark.sql(st.sql("spark"))
                if st.materialise:
                    df = df.cache()
                    df.count()
                    cached.append(df)
                df.createOrReplaceTempView(st.name)
                if st.name == reports.AFTER_STATEMENT:
                    found = read_reports(spark.sql(reports.CANDIDATES_SQL).toArrow())
                    fdf = spark.createDataFrame(found, schema=_spark_schema(found.schema))
                    fdf.createOrReplaceTempView(reports.FINDINGS_TABLE)
            return EngineResult(
                worklist=spark.table("worklist").toArrow(),
                issues=spark.table("issues").toArrow(),
                population=spark.table("population").toArrow(),
            )
        finally:
            for df in cached:
                df.unpersist()
            for name in spark.catalog.listTables():
                if name.isTemporary:
                    spark.catalog.dropTempView(name.name)


def _spark_schema(arrow: pa.Schema) -> str:
    names = {pa.string(): "STRING", pa.date32(): "DATE"}
    return ", ".join(f"`{f.name}` {names[f.type]}" for f in arrow)


def make_engine(name: str, master: str | None = None) -> Engine:
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        require_extra("pyspark", "spark", "the Spark engine (--engine spark)")
        return SparkEngine(master=master)
    raise ValueError(f"unknown engine {name!r}")
