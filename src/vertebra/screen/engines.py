"""Run the screening SQL on DuckDB (embedded, default) or Apache Spark (local or a cluster).

Both engines read the same files with the same schema (:mod:`vertebra.screen.schema`), load the
same value-set table and run the same statements (:mod:`vertebra.screen.logic`); they return
Arrow tables that :mod:`vertebra.screen.pipeline` turns into the outputs.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import pyarrow as pa

from vertebra.errors import require_extra
from vertebra.screen import logic, reports, schema
from vertebra.screen.inputs import ExportFiles

Progress = Callable[[str], None]

#: The timing key of the report reading: DuckDB reads the candidates with the report reader in
#: Python on a thread, beside the statements that do not need the findings, and registers the
#: findings as a table; Spark reads them on the executors (``mapInArrow``, see
#: :func:`_read_partition`).
READING = "report_reading (Python, driver)"
SPARK_READING = "report_reading (Python, executors)"
#: DuckDB: how long the engine waited for the reader (which runs beside the statements before).
READING_WAIT = "report_reading: engine waited"
_NEEDS_FINDINGS = re.compile(rf"\b{reports.FINDINGS_TABLE}\b")
_NEEDS_CODES = re.compile(r"\bvs_codes\b")


def _timed(read: reports.Reader, candidates: pa.Table, timings: dict[str, float]) -> pa.Table:
    t = time.perf_counter()
    found = read(candidates)
    timings[READING] = round(time.perf_counter() - t, 3)
    return found


#: The worklist's order (the same as :func:`vertebra.screen.pipeline.finish_worklist`'s Arrow
#: sort): vertebral first, then the most recent index fracture (unknown dates last), then
#: patient id (a missing id first). Spark sorts by these keys (:func:`_ordered_worklist`) so
#: that the driver can write the outputs batch by batch as they stream in.
WORKLIST_ORDER_SQL = (
    "coalesce(vertebral_fracture, false) DESC, index_fracture_date DESC NULLS LAST, "
    "coalesce(patient_id, '') ASC"
)


@dataclass
class EngineResult:
    #: The engine's worklist rows: the whole table, in any order (DuckDB), or
    #: ``ordered_batches`` instead.
    worklist: pa.Table | None
    issues: pa.Table
    population: pa.Table
    #: Wall seconds per phase (``start``, ``read``, each statement, ``collect``): the profile
    #: that ``bench/screen`` prints and ``docs/screening.md`` explains.
    timings: dict[str, float] = field(default_factory=dict)
    #: Spark: the worklist rows already in :data:`WORKLIST_ORDER_SQL` order, one Arrow batch at
    #: a time (streamed from the executors a partition at a time), so that the driver never
    #: holds the whole worklist. Iterate once, then call :meth:`close`.
    ordered_batches: Iterator[pa.RecordBatch] | None = None
    #: Release what the engine keeps for ``ordered_batches`` (Spark's checkpoints, session).
    close: Callable[[], None] = lambda: None


class SparkJobError(RuntimeError):
    """A Spark job failed; the message is Spark's error in one line."""


def _one_line(exc: BaseException) -> str:
    """Spark's (JVM) error in one line: the root cause's ``Exception: message`` line when the
    text has one (the deepest ``Caused by:``), else its first meaningful line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [
        line.removeprefix("Caused by: ")
        for line in lines
        if _JAVA_EXCEPTION.match(line.removeprefix("Caused by: "))
    ]
    if causes:
        return causes[-1][:300]
    for line in lines:
        if not line.startswith(("An error occurred", "py4j", "Traceback", "at ")):
            return line[:300]
    return type(exc).__name__


_JAVA_EXCEPTION = re.compile(r"^[a-z][\w$]*(\.[\w$]+)+(Exception|Error)\b.*:")


class Engine(Protocol):
    name: str
    #: The report reader runs in this process (DuckDB), so the screen loads it early on a
    #: thread; Spark runs it on the executors.
    reads_reports_in_process: bool

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
    reads_reports_in_process = True

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
            # No automatic checkpoint: the tables live only as long as this connection, and
            # once the temp tables' changes passed the default 16 MB threshold DuckDB 2.0
            # checkpointed them in the first statement after the report findings were added,
            # compressing their strings on one thread (0.28 s of `fractures`' 0.33 s at 1 M
            # patients; docs/screening.md).
            con.execute("SET checkpoint_threshold = '1TB'")
            for rtype in schema.RESOURCES:
                self._register(con, rtype, export.files.get(rtype, []))
            timings: dict[str, float] = {}
            # The value-set table is built (Python, ~0.13 CPU-s) on a thread while DuckDB runs
            # the statements before the first that reads vs_codes (report_texts, patients): on
            # the main thread it held DuckDB back, longer still while the report reader's
            # import, on its own thread, took turns with it for the interpreter lock.
            # The report reader (Python) runs on a thread while DuckDB's threads run the
            # statements that do not need its findings (patients, condition_events); the first
            # statement that reads report_findings waits for it.
            with (
                ThreadPoolExecutor(1, thread_name_prefix="value-sets") as value_sets,
                ThreadPoolExecutor(1, thread_name_prefix="report-reader") as reader,
            ):
                codes: Future[pa.Table] | None = value_sets.submit(_codes_table)
                pending: Future[pa.Table] | None = None
                for st in logic.statements(as_of):
                    if codes is not None and _NEEDS_CODES.search(st.select):
                        self._add_table(con, "vs_codes", codes.result())
                        codes = None
                    if pending is not None and _NEEDS_FINDINGS.search(st.select):
                        t = time.perf_counter()
                        self._add_table(con, reports.FINDINGS_TABLE, pending.result())
                        timings[READING_WAIT] = round(time.perf_counter() - t, 3)
                        pending = None
                    progress(st.name)
                    kind = "TABLE" if st.materialise else "VIEW"
                    t = time.perf_counter()
                    con.execute(f"CREATE TEMP {kind} {st.name} AS {st.sql('duckdb')}")
                    timings[st.name] = round(time.perf_counter() - t, 3)
                    if st.name == reports.AFTER_STATEMENT:
                        candidates = con.sql(reports.CANDIDATES_SQL).to_arrow_table()
                        pending = reader.submit(_timed, read_reports, candidates, timings)
                if pending is not None:
                    self._add_table(con, reports.FINDINGS_TABLE, pending.result())
                if codes is not None:
                    self._add_table(con, "vs_codes", codes.result())
            t = time.perf_counter()
            result = EngineResult(
                worklist=con.sql("SELECT * FROM worklist").to_arrow_table(),
                issues=con.sql("SELECT * FROM issues").to_arrow_table(),
                population=con.sql("SELECT * FROM population").to_arrow_table(),
            )
            timings["collect"] = round(time.perf_counter() - t, 3)
            result.timings = timings
            return result
        finally:
            con.close()

    @staticmethod
    def _add_table(con: Any, name: str, table: pa.Table) -> None:
        """``table`` (Arrow, built in Python) as the temp table ``name``."""
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")

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
    """Spark (``local[*]`` by default, or any master URL: ``local-cluster[N,C,M]``,
    ``spark://host:7077``, ``k8s://…``).

    Each materialised statement is computed once and kept with ``localCheckpoint``, which also
    cuts its lineage: with ``cache()`` every later statement carried the whole plan of every
    earlier one, and planning the worklist (ten joins over cached plans of the raw JSON scans)
    cost more than running it (docs/screening.md, "Spark: profile, fixes and scale-out"). Raw
    files are read once, with the explicit schema of :mod:`vertebra.screen.schema` (no
    inference), split across tasks by Spark's file source; the value sets are a small table
    that the optimiser broadcasts.
    """

    name = "spark"
    reads_reports_in_process = False

    def __init__(
        self,
        master: str | None = None,
        shuffle_partitions: int | None = None,
        conf: dict[str, str] | None = None,
        stop: bool = False,
    ) -> None:
        self.master = master or "local[*]"
        self.shuffle_partitions = shuffle_partitions
        self.conf = dict(conf or {})
        #: Stop the Spark session after the run (the CLI does; tests and benchmarks that run
        #: several screens in one process keep it).
        self.stop = stop

    def session(self) -> Any:
        from pyspark.sql import SparkSession

        local = self.master.startswith("local")
        # The executors' Python workers run the report reader (vertebra.language): on one
        # machine, this interpreter (its venv); on a cluster, the image's (PYSPARK_PYTHON).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable if local else "python3")
        if local:
            # local and local-cluster: driver, master, workers and executors on loopback only.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # local[N]: the driver JVM runs the tasks too; on a cluster (local-cluster included) it
        # only plans and streams the ordered worklist to Python a partition at a time.
        driver = "4g" if self.master.startswith("local[") else "2g"
        parts = self.shuffle_partitions or ((os.cpu_count() or 2) * 2 if local else 200)
        builder = (
            SparkSession.builder.master(self.master)
            .appName("vertebra-screen")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(parts))
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            # one Python worker per executor core, kept across tasks (the report reader loads
            # spaCy and medspaCy once per worker)
            .config("spark.python.worker.reuse", "true")
            .config("spark.driver.memory", os.environ.get("VERTEBRA_SPARK_DRIVER_MEMORY", driver))
        )
        if local:
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
        if not self.master.startswith("local["):
            # A driver that runs no tasks only plans, schedules and streams the worklist: the
            # JIT's optimising tier (C2) cost it more CPU than it saved (at 200k patients the
            # driver JVM used 33 CPU-s with it, 16 without; at 1 M, 36 and 20). Executors keep
            # it (without it they were 40 % slower at 1 M).
            builder = builder.config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
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
        try:
            return self._run(export, as_of, progress, read_reports)
        except Exception as exc:
            raise _spark_error(exc) from exc

    def _run(
        self,
        export: ExportFiles,
        as_of: date,
        progress: Progress,
        read_reports: reports.Reader,
    ) -> EngineResult:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        spark = self.session()
        spark.sparkContext.setLogLevel("ERROR")
        timings["start"] = time.perf_counter() - t
        kept: list[Any] = []

        def close() -> None:
            for df in kept:
                df.unpersist()
            for name in spark.catalog.listTables():
                if name.isTemporary:
                    spark.catalog.dropTempView(name.name)
            if self.stop:
                spark.stop()

        try:
            t = time.perf_counter()
            for rtype in schema.RESOURCES:
                ddl = schema.spark_ddl(rtype)
                files = [str(p) for p in export.files.get(rtype, [])]
                if files:
                    df = spark.read.schema(ddl).option("mode", "PERMISSIVE").json(files)
                else:
                    df = spark.createDataFrame([], schema=ddl)
                df.createOrReplaceTempView(schema.table_name(rtype))
            spark.createDataFrame(_codes_table()).createOrReplaceTempView("vs_codes")
            timings["read (lazy: files listed, schema applied)"] = time.perf_counter() - t
            statements = logic.statements(as_of)
            keep = _checkpointed(statements)

            def compute(st: logic.Statement) -> float:
                t = time.perf_counter()
                spark.sparkContext.setJobGroup(st.name, f"vertebra screen: {st.name}")
                df = spark.sql(st.sql("spark"))
                if st.name in keep:
                    df = df.localCheckpoint(eager=True)
                    kept.append(df)
                df.createOrReplaceTempView(st.name)
                return time.perf_counter() - t

            def read() -> float:
                t = time.perf_counter()
                spark.sparkContext.setJobGroup(SPARK_READING, "vertebra screen: reports")
                found = _read_on_executors(spark, read_reports).localCheckpoint(eager=True)
                kept.append(found)
                found.createOrReplaceTempView(reports.FINDINGS_TABLE)
                return time.perf_counter() - t

            steps: dict[str, Callable[[], float]] = {}
            for st in statements:  # in file order, the report reading right after its input
                steps[st.name] = functools.partial(compute, st)
                if st.name == reports.AFTER_STATEMENT:
                    steps[SPARK_READING] = read

            def step(name: str) -> None:
                if name != SPARK_READING:  # the progress bar counts statements
                    progress(name)

            timings.update(_run_concurrently(steps, _dependencies(statements), step))
            t = time.perf_counter()
            spark.sparkContext.setJobGroup("collect", "vertebra screen: issues, population")
            issues = spark.table("issues").toArrow()
            population = spark.table("population").toArrow()
            timings["collect"] = time.perf_counter() - t
            ordered = _ordered_worklist(spark)
        except BaseException:
            close()
            raise
        rounded = {k: round(v, 3) for k, v in timings.items()}
        return EngineResult(
            worklist=None,
            issues=issues,
            population=population,
            timings=rounded,
            ordered_batches=_stream_ordered(spark, ordered, rounded),
            close=close,
        )


#: Statements whose inputs are ready run at the same time, each Spark job from its own driver
#: thread (Spark's scheduler takes jobs from several threads): independent scans (procedures,
#: observations, medicines, encounters ...) then fill every executor core instead of waiting
#: for one another, and one statement's planning overlaps another's tasks.
CONCURRENT_STATEMENTS = 4


def _dependencies(statements: list[logic.Statement]) -> dict[str, set[str]]:
    """Each step's inputs among the earlier steps: the statements its SQL names, and the report
    reading (``report_findings``) for those that read its findings."""
    deps: dict[str, set[str]] = {SPARK_READING: {reports.AFTER_STATEMENT}}
    for i, st in enumerate(statements):
        words = set(re.findall(r"[a-z_][a-z0-9_]*", st.select.lower()))
        deps[st.name] = {e.name for e in statements[:i] if e.name in words}
        if reports.FINDINGS_TABLE in words:
            deps[st.name].add(SPARK_READING)
    return deps


def _run_concurrently(
    steps: dict[str, Callable[[], float]], deps: dict[str, set[str]], progress: Progress
) -> dict[str, float]:
    """Run each step once all its inputs are done, up to :data:`CONCURRENT_STATEMENTS` at a
    time (in the order given when several are ready). Returns each step's seconds; the first
    error stops the run (steps already running finish first)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    seconds: dict[str, float] = {}
    waiting = list(steps)
    running: dict[Future[float], str] = {}
    with ThreadPoolExecutor(CONCURRENT_STATEMENTS, thread_name_prefix="spark-step") as pool:
        while waiting or running:
            for name in [n for n in waiting if deps.get(n, set()) <= seconds.keys()]:
                if len(running) >= CONCURRENT_STATEMENTS:
                    break
                progress(name)
                waiting.remove(name)
                running[pool.submit(steps[name])] = name
            if not running:
                raise RuntimeError(f"screen steps with unmet inputs: {', '.join(waiting)}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                seconds[name] = future.result()  # raises the step's error
    return seconds


def _checkpointed(statements: list[logic.Statement]) -> set[str]:
    """The statements Spark computes once and keeps (``localCheckpoint``): materialised ones
    (``CREATE TEMP TABLE``) that two or more later statements read, the report candidates'
    statement and the worklist (sorted and streamed a partition at a time). A table read by
    one statement only stays a view that Spark plans into its reader (over checkpointed
    inputs, so planning stays cheap): one Spark job fewer each, and on Spark every job costs
    seconds of fixed scheduling, planning and code generation (docs/screening.md)."""
    keep = {reports.AFTER_STATEMENT, "worklist"}
    for i, st in enumerate(statements):
        word = re.compile(rf"\b{re.escape(st.name)}\b", re.IGNORECASE)
        readers = sum(1 for later in statements[i + 1 :] if word.search(later.select))
        if st.materialise and readers >= 2:
            keep.add(st.name)
    return keep


#: Rows per partition of the sorted worklist that streams to the driver: the driver JVM holds
#: one partition (and one prefetched) at a time, so the partition count grows with the
#: worklist and the driver's memory does not.
STREAMED_ROWS_PER_PARTITION = 50_000


def _ordered_worklist(spark: Any) -> Any:
    """The worklist in :data:`WORKLIST_ORDER_SQL` order (what ``ORDER BY`` does: range
    partitioning on the keys, then a sort within each partition), in partitions of at most
    :data:`STREAMED_ROWS_PER_PARTITION` rows."""
    from pyspark.sql import functions as F

    table = spark.table("worklist")
    keys = [
        F.expr("coalesce(vertebral_fracture, false)").desc(),
        F.col("index_fracture_date").desc_nulls_last(),
        F.expr("coalesce(patient_id, '')").asc(),
    ]
    parts = max(1, -(-table.count() // STREAMED_ROWS_PER_PARTITION))
    return table.repartitionByRange(parts, *keys).sortWithinPartitions(*keys)


def _spark_error(exc: Exception) -> Exception:
    if type(exc).__module__.startswith(("py4j", "pyspark")):
        return SparkJobError(f"Spark job failed: {_one_line(exc)}")
    return exc


def _read_on_executors(spark: Any, read_reports: reports.Reader) -> Any:
    """``report_findings`` computed by the report reader on the executors: the candidate texts
    are hash-partitioned by report (so that a report's texts meet in one task, where
    :func:`reports.read_candidates` drops a finding repeated by its attachments) and each
    partition is read in the executor's Python worker (``mapInArrow``; Spark reuses the worker,
    so spaCy and medspaCy load once per worker). Nothing is collected to the driver."""
    parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    candidates = spark.sql(reports.CANDIDATES_SQL).repartition(parts, "patient_id", "report_id")
    return candidates.mapInArrow(
        functools.partial(_read_partition, read_reports), _spark_schema(reports.FINDINGS_SCHEMA)
    )


def _read_partition(
    reader: reports.Reader, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Executor side: one partition's candidates through the report reader."""
    got = [b for b in batches if b.num_rows]
    if got:
        found = reader(pa.Table.from_batches(got))
        yield from found.cast(reports.FINDINGS_SCHEMA).to_batches()


def _to_ipc(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Executor side: each Arrow batch of the ordered worklist as one binary value (an Arrow
    IPC stream), so that ``toLocalIterator`` brings Arrow batches, not Python rows, to the
    driver."""
    for batch in batches:
        if batch.num_rows:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            yield pa.record_batch([pa.array([sink.getvalue().to_pybytes()], pa.binary())], ["ipc"])


def _stream_ordered(
    spark: Any, ordered: Any, timings: dict[str, float]
) -> Iterator[pa.RecordBatch]:
    """The ordered worklist, partition by partition (``toLocalIterator`` with prefetch: Spark
    computes the next partition while the driver writes this one). Records the seconds spent
    waiting for Spark as ``stream worklist``."""
    waited = 0.0
    try:
        spark.sparkContext.setJobGroup("worklist_stream", "vertebra screen: worklist")
        t = time.perf_counter()
        rows = ordered.mapInArrow(_to_ipc, "ipc BINARY").toLocalIterator(prefetchPartitions=True)
        while True:
            row = next(rows, None)
            waited += time.perf_counter() - t
            if row is None:
                break
            with pa.ipc.open_stream(row[0]) as batches:
                yield from batches
            t = time.perf_counter()
    except Exception as exc:
        raise _spark_error(exc) from exc
    finally:
        timings["stream worklist"] = round(waited, 3)


def _spark_schema(arrow: pa.Schema) -> str:
    names = {pa.string(): "STRING", pa.date32(): "DATE"}
    return ", ".join(f"`{f.name}` {names[f.type]}" for f in arrow)


def make_engine(name: str, master: str | None = None, conf: dict[str, str] | None = None) -> Engine:
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        require_extra("pyspark", "spark", "the Spark engine (--engine spark)")
        return SparkEngine(master=master, conf=conf, stop=True)
    raise ValueError(f"unknown engine {name!r}")
