"""Benchmark `vertebra screen` end to end against two baselines on the same files.

    uv run --frozen python bench/screen/run.py --patients 1000000

Generates the synthetic export once (cached under --data), then times, each in its own fresh
process and interleaved round by round (so that load from other processes on a shared machine
falls on all of them alike), after reading every file once untimed so that all start with a
warm page cache:

- ``python``: a plain-Python line-by-line reader, single process: ``json.loads`` on every line
  of every file and the same case-finding in Python (fracture codes exact or by prefix, age 50+
  at the fracture, cut-off; DXA, eGFR, medicines and last encounter for those patients;
  unusable lines counted). Its result is the number of worklist patients, which must equal
  the screen's.
- ``bare``: DuckDB's bare scan of the same files (``read_json_objects``, count only): the
  practical limit of reading the export.
- ``parse``: DuckDB reading the same files with the screen's own schema and parsing every
  column the screen reads (``count`` of each, one query per resource type; no logic, no
  output): what any DuckDB-based screen must spend before doing anything.
- ``screen``: ``vertebra.screen.pipeline.screen`` with the DuckDB engine, every output written.

Reports wall seconds (median of --repeat runs, and the fastest), CPU seconds, patients/s,
ratios against both baselines and peak RSS (the measured process; and its largest helper
process, e.g. a plan-engine worker), and writes bench/screen/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AGE = 50


def python_baseline(data: Path, as_of: date) -> int:
    """Plain Python, one line at a time: the worklist patient count."""
    from vertebra.screen import logic
    from vertebra.screen.inputs import discover
    from vertebra.terminology import ICD10CM

    export = discover(data)
    rows = logic.code_rows()
    exact = {(r[1], r[2]): r for r in rows if r[0] == "fracture" and r[3] == "exact"}
    prefix = {(r[1], r[2]): r for r in rows if r[0] == "fracture" and r[3] == "prefix"}
    lengths = sorted({len(str(r[2])) for r in prefix.values()})
    other = {(str(r[1]), str(r[2])): str(r[0]) for r in rows if r[0] != "fracture"}
    cutoff = as_of.isoformat()
    bad: dict[tuple[str, str], int] = {}

    def lines(rtype: str) -> Any:
        for path in export.files.get(rtype, []):
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        bad[(rtype, "malformed")] = bad.get((rtype, "malformed"), 0) + 1
                        continue
                    if not isinstance(r, dict) or r.get("resourceType") != rtype:
                        bad[(rtype, "wrong_type")] = bad.get((rtype, "wrong_type"), 0) + 1
                        continue
                    yield r

    def pid_of(r: dict[str, Any]) -> str | None:
        ref = (r.get("subject") or {}).get("reference")
        return ref.replace(":", "/").rsplit("/", 1)[-1] if isinstance(ref, str) else None

    def codings(r: dict[str, Any], field: str) -> list[dict[str, Any]]:
        return list((r.get(field) or {}).get("coding") or [])

    events: dict[str, list[str | None]] = {}  # patient -> fracture dates
    for r in lines("Condition"):
        pid = pid_of(r)
        if pid is None:
            continue
        when = r.get("onsetDateTime") or (r.get("onsetPeriod") or {}).get("start")
        when = when or r.get("recordedDate")
        for c in codings(r, "code"):
            system, code = c.get("system"), c.get("code") or ""
            if system == ICD10CM:
                code = code.replace(".", "").upper()
            hit = (system, code) in exact or (system, code) in prefix
            hit = hit or any((system, code[:n]) in prefix for n in lengths if len(code) >= n)
            if hit:
                events.setdefault(pid, []).append(when[:10] if when else None)
    birth: dict[str, str] = {}
    patients = set()
    for r in lines("Patient"):
        pid = r.get("id")
        if pid is None:
            continue
        patients.add(pid)
        if pid in events and r.get("birthDate"):
            birth[pid] = r["birthDate"][:10]

    def age(born: str, on: str) -> int:
        return int(on[:4]) - int(born[:4]) - (on[5:10] < born[5:10])

    worklist = {
        pid
        for pid, dates in events.items()
        for d in dates
        if (d is None or d <= cutoff)
        and (pid not in birth or d is None or age(birth[pid], d) >= AGE)
    }
    found: dict[tuple[str, str], str] = {}  # (patient, category) -> first date
    last_seen: dict[str, str] = {}
    for rtype, field in (
        ("Procedure", "code"),
        ("ServiceRequest", "code"),
        ("Observation", "code"),
        ("MedicationRequest", "medicationCodeableConcept"),
    ):
        for r in lines(rtype):
            pid = pid_of(r)
            if pid not in worklist:
                continue
            when = r.get("authoredOn") or r.get("effectiveDateTime") or r.get("performedDateTime")
            when = str(when or (r.get("performedPeriod") or {}).get("start") or "")[:10]
            for c in codings(r, field):
                cat = other.get((str(c.get("system")), str(c.get("code"))))
                if cat is not None and when <= cutoff:
                    key = (str(pid), cat)
                    found[key] = min(found.get(key, when), when)
    for r in lines("Encounter"):
        pid = pid_of(r)
        if pid in worklist:
            start = ((r.get("period") or {}).get("start") or "")[:10]
            if start and start <= cutoff:
                last_seen[pid] = max(last_seen.get(pid, start), start)
    return len(worklist)


def duckdb_bare_scan(data: Path) -> int:
    import duckdb

    from vertebra.screen.inputs import discover

    export = discover(data)
    files = [str(p) for fs in export.files.values() for p in fs]
    con = duckdb.connect()
    rows = con.execute(
        "SELECT count(*) FROM read_json_objects($files, format = 'newline_delimited')",
        {"files": files},
    ).fetchall()
    con.close()
    return int(rows[0][0])


def duckdb_parse(data: Path) -> int:
    import duckdb

    from vertebra.screen import schema
    from vertebra.screen.engines import DuckDBEngine
    from vertebra.screen.inputs import discover

    export = discover(data)
    con = duckdb.connect()
    total = 0
    for rtype in schema.RESOURCES:
        DuckDBEngine._register(con, rtype, export.files.get(rtype, []))
        table = schema.table_name(rtype)
        counts = ", ".join(f'count("{c}")' for c in schema.duckdb_columns(rtype))
        row = con.execute(f"SELECT count(*), {counts} FROM {table}").fetchone()
        assert row is not None
        total += int(row[0])
    con.close()
    return total


def screen_duckdb(data: Path, out: Path) -> tuple[int, dict[str, Any]]:
    from vertebra.screen.engines import DuckDBEngine
    from vertebra.screen.pipeline import screen
    from vertebra.synth import REFERENCE_DATE

    result = screen(data, out, DuckDBEngine(), REFERENCE_DATE)
    return int(result.worklist.num_rows), {"engine_seconds": result.kpis["run"]["engine_seconds"]}


def screen_coded_only(data: Path, out: Path) -> tuple[int, dict[str, Any]]:
    """The same screen on the same export with the report files left out (coded data only)."""
    from vertebra.screen.engines import DuckDBEngine
    from vertebra.screen.inputs import discover
    from vertebra.screen.pipeline import screen
    from vertebra.synth import REFERENCE_DATE

    export = discover(data)
    for rtype in ("DiagnosticReport", "DocumentReference"):
        export.files.pop(rtype, None)
    result = screen(data, out, DuckDBEngine(), REFERENCE_DATE, export=export)
    return int(result.worklist.num_rows), {"engine_seconds": result.kpis["run"]["engine_seconds"]}


EXECUTOR_MB = 1024


def spark_master(executors: int) -> str:
    """``local-cluster[N, 1 core, 1024 MB]``: a real standalone master, N worker JVMs and N
    executor processes on this machine (loopback only), started and stopped with the run."""
    return f"local-cluster[{executors},1,{EXECUTOR_MB}]"


class JvmMemory:
    """Peak RSS (VmHWM) of the Spark processes started by this process, polled from /proc
    while the run lasts: the driver JVM (with ``local-cluster`` it also hosts the standalone
    master and workers), each executor JVM and each executor's Python processes (the PySpark
    daemon and its workers, which run the report reader)."""

    def __init__(self) -> None:
        import threading

        self.peak: dict[int, tuple[str, float]] = {}
        #: CPU seconds (user + system) of each process, last seen
        self.cpu: dict[int, tuple[str, float]] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> JvmMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _ours(self, pid: int) -> bool:
        """Whether ``pid`` descends from this process (another run's Spark on the same machine
        must not count)."""
        me, seen = os.getpid(), 0
        while pid > 1 and seen < 64:
            if pid == me:
                return True
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return False
            seen += 1
        return False

    def _poll(self) -> None:
        while True:
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmd = (proc / "cmdline").read_bytes()
                    if b"CoarseGrainedExecutorBackend" in cmd:
                        kind = "executor"
                    elif b"pyspark.daemon" in cmd or b"pyspark.worker" in cmd:
                        kind = "executor_python"
                    elif b"SparkSubmit" in cmd and b"pyspark-shell" in cmd:
                        kind = "driver_jvm"
                    else:
                        continue
                    if not self._ours(int(proc.name)):
                        continue
                    status = (proc / "status").read_text()
                    stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                # fields 14 and 15 of /proc/PID/stat (utime, stime) are 12 and 13 after ")"
                self.cpu[int(proc.name)] = (kind, (int(stat[11]) + int(stat[12])) / self._tick)
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        old = self.peak.get(int(proc.name), (kind, 0.0))[1]
                        self.peak[int(proc.name)] = (kind, max(old, mb))
            if self._stop.wait(0.25):
                return

    def of(self, kind: str) -> list[float]:
        return [round(mb) for k, mb in self.peak.values() if k == kind]

    def cpu_of(self, kind: str) -> float:
        return round(sum(s for k, s in self.cpu.values() if k == kind), 1)


def screen_spark(data: Path, out: Path, executors: int) -> tuple[int, dict[str, Any]]:
    import shutil

    from vertebra.screen.engines import SparkEngine
    from vertebra.screen.pipeline import screen
    from vertebra.synth import REFERENCE_DATE

    events = out / "eventlog"
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    conf = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": events.as_uri(),
        "spark.eventLog.compress": "false",
    }
    engine = SparkEngine(spark_master(executors), conf=conf, stop=True)
    with JvmMemory() as mem:
        result = screen(data, out, engine, REFERENCE_DATE)
    extra = {
        "engine_seconds": result.kpis["run"]["engine_seconds"],
        "executor_peak_rss_mb": mem.of("executor"),
        "executor_python_peak_rss_mb": mem.of("executor_python"),
        "driver_jvm_peak_rss_mb": mem.of("driver_jvm"),
        "event_log": event_log_summary(events),
        # CPU seconds by process kind (polled every 0.25 s: the last quarter second of a
        # process may be missed). Unlike wall seconds, these barely move with the machine's load.
        "process_cpu_seconds": {
            "driver_python": round(sum(os.times()[:2]), 1),
            "driver_jvm": mem.cpu_of("driver_jvm"),
            "executor_jvms": mem.cpu_of("executor"),
            "executor_python": mem.cpu_of("executor_python"),
        },
    }
    # The worklist's length from kpis.json: reading worklist.parquet back would put the whole
    # worklist in the driver process whose peak RSS is measured.
    return int(result.kpis["population"]["fragility_fracture_patients"]), extra


def event_log_summary(events: Path) -> dict[str, Any]:
    """From Spark's event log of the run: jobs, stages and tasks, and per executor the tasks
    run and their run/CPU seconds (does every executor get work?), plus the input partitions
    of the largest scan stage."""
    jobs = stages = 0
    per: dict[str, dict[str, float]] = {}
    widest = 0
    for log in sorted(p for p in events.rglob("*") if p.is_file()):
        with log.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    ev = json.loads(line)
                except ValueError:  # the last line of a log still being written
                    continue
                kind = ev.get("Event")
                if kind == "SparkListenerJobStart":
                    jobs += 1
                elif kind == "SparkListenerStageCompleted":
                    stages += 1
                    widest = max(widest, int(ev["Stage Info"].get("Number of Tasks", 0)))
                elif kind == "SparkListenerTaskEnd":
                    exe = str(ev["Task Info"]["Executor ID"])
                    m = ev.get("Task Metrics") or {}
                    slot = per.setdefault(
                        exe, {"tasks": 0, "run_s": 0.0, "cpu_s": 0.0, "gc_s": 0.0}
                    )
                    slot["tasks"] += 1
                    slot["run_s"] += m.get("Executor Run Time", 0) / 1000
                    slot["cpu_s"] += m.get("Executor CPU Time", 0) / 1e9
                    slot["gc_s"] += m.get("JVM GC Time", 0) / 1000
    return {
        "jobs": jobs,
        "stages": stages,
        "most_tasks_in_a_stage": widest,
        "per_executor": {
            k: {
                "tasks": int(v["tasks"]),
                "run_s": round(v["run_s"], 1),
                "cpu_s": round(v["cpu_s"], 1),
                "gc_s": round(v["gc_s"], 1),
            }
            for k, v in sorted(per.items())
        },
    }


RUNS = {
    "python": "plain Python line reader",
    "bare": "DuckDB bare scan",
    "parse": "DuckDB parse of the screen's columns",
    "coded": "vertebra screen, coded only (duckdb)",
    "screen": "vertebra screen (duckdb)",
    "spark1": "vertebra screen (spark, 1 executor)",
    "spark2": "vertebra screen (spark, 2 executors)",
}


def child(name: str, data: Path, out: Path) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    import resource

    from vertebra.synth import REFERENCE_DATE

    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if name == "python":
        result = python_baseline(data, REFERENCE_DATE)
    elif name == "bare":
        result = duckdb_bare_scan(data)
    elif name == "parse":
        result = duckdb_parse(data)
    elif name == "screen":
        result, extra = screen_duckdb(data, out / "duckdb")
    elif name == "coded":
        result, extra = screen_coded_only(data, out / "coded")
    else:
        result, extra = screen_spark(data, out / name, int(name.removeprefix("spark")))
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "result": result, "rss": own, "helper_rss": helpers, **extra}
        )
    )


def warm(data: Path) -> None:
    """Read every file once (untimed) so that each run starts with the same warm page cache."""
    for p in sorted(data.iterdir()):
        with p.open("rb", buffering=0) as fh:
            while fh.read(16 << 20):
                pass


#: What the untimed warm-up child imports (and builds), so that the timed children find every
#: module compiled in the bytecode cache (:func:`child_env`).
WARM_IMPORTS = (
    "import duckdb, pyarrow.parquet, pandas\n"
    "import vertebra.screen.pipeline, vertebra.screen.report, vertebra.screen.engines\n"
    "from vertebra.screen.gaps import load_plan_engine, load_safety_inputs\n"
    "load_plan_engine(); load_safety_inputs()\n"
    "from vertebra.language.reports import load\n"
    "load()\n"
)


def child_env(bytecode_cache: Path | None) -> dict[str, str]:
    """The timed children's environment. With ``bytecode_cache`` (the default) Python keeps
    compiled modules there (``PYTHONPYCACHEPREFIX``) even where ``PYTHONDONTWRITEBYTECODE`` is
    set (as in this project's sandbox): an installed application runs from compiled bytecode
    (pip compiles at install, and Python caches on first import), and compiling spaCy,
    medspaCy and pandas from source on every run cost ~1.5 CPU-s (of which ~0.9 for the
    report reader alone) that no user pays. ``--no-bytecode-cache`` measures the other way."""
    env = dict(os.environ)
    if bytecode_cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


def warm_bytecode(bytecode_cache: Path | None) -> None:
    """Fill the bytecode cache (untimed) by importing what the screen imports."""
    if bytecode_cache is not None:
        bytecode_cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-c", WARM_IMPORTS],
            check=True,
            cwd=HERE,
            env=child_env(bytecode_cache),
        )


def measure(name: str, data: Path, out: Path, bytecode_cache: Path | None = None) -> dict[str, Any]:
    warm(data)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--data",
        str(data),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, cwd=HERE, env=child_env(bytecode_cache)
    )
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    got = json.loads(stdout.strip().splitlines()[-1])
    return {
        "seconds": got["seconds"],
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "result": got["result"],
        "peak_rss_mb": got["rss"],
        "helper_peak_rss_mb": got["helper_rss"],
        **{
            k: got[k]
            for k in (
                "engine_seconds",
                "executor_peak_rss_mb",
                "executor_python_peak_rss_mb",
                "driver_jvm_peak_rss_mb",
                "event_log",
                "process_cpu_seconds",
            )
            if k in got
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/vertebra-bench"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each DuckDB measurement")
    ap.add_argument("--python-repeat", type=int, default=1, help="runs of the Python reader")
    ap.add_argument(
        "--spark",
        action="store_true",
        help="also time the Spark engine with 1 and with 2 executors "
        "(local-cluster: a standalone master and workers started by the run)",
    )
    ap.add_argument(
        "--runs",
        default="python,bare,parse,coded,screen",
        help="comma-separated runs (python, bare, parse, coded, screen)",
    )
    ap.add_argument(
        "--results", default="results.json", help="file name under bench/screen for the figures"
    )
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run the timed processes as the environment says (with PYTHONDONTWRITEBYTECODE "
        "set, every module is compiled from source in every run); by default they use a "
        "bytecode cache under --data, filled by an untimed import first",
    )
    ap.add_argument("--child", choices=sorted(RUNS), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.out)
        return
    data = args.data / f"p{args.patients}-s{args.seed}"
    if not (data / "manifest.json").exists():
        # In a subprocess: a child's peak RSS includes its parent's at fork, so keep this small.
        t = time.perf_counter()
        code = "import sys; from pathlib import Path; from vertebra.synth import generate; "
        code += "generate(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), workers=2)"
        subprocess.run(
            [sys.executable, "-c", code, str(args.patients), str(data), str(args.seed)], check=True
        )
        print(f"generated {args.patients} patients in {time.perf_counter() - t:.1f}s", flush=True)
    size = sum(p.stat().st_size for p in data.iterdir())
    names = [n for n in args.runs.split(",") if n] + (["spark1", "spark2"] if args.spark else [])
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        raise SystemExit(f"--runs: unknown {', '.join(unknown)}")
    if args.spark and "screen" not in names:
        raise SystemExit("--spark compares with the DuckDB screen: keep 'screen' in --runs")
    bytecode_cache = None if args.no_bytecode_cache else args.data / "pycache"
    warm_bytecode(bytecode_cache)
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    rounds = max(args.repeat, args.python_repeat)
    samples: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(rounds):
        for name in names:
            if len(samples[name]) >= (args.python_repeat if name == "python" else args.repeat):
                continue
            s = measure(name, data, args.data, bytecode_cache)
            samples[name].append(s)
            print(
                f"round {i + 1}: {RUNS[name]}: {s['seconds']:.2f}s, result {s['result']}, "
                f"peak RSS {s['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    runs = []
    for name in names:
        ss = samples[name]
        secs = statistics.median(s["seconds"] for s in ss)
        middle = sorted(ss, key=lambda s: s["seconds"])[len(ss) // 2]
        run: dict[str, Any] = {
            "id": name,
            "name": RUNS[name],
            "runs": len(ss),
            "seconds": round(secs, 2),
            "seconds_min": round(min(s["seconds"] for s in ss), 2),
            "seconds_all": [round(s["seconds"], 2) for s in ss],
            "cpu_seconds": round(statistics.median(s["cpu_seconds"] for s in ss), 2),
            "patients_per_second": round(args.patients / secs),
            "result": ss[0]["result"],
            "peak_rss_mb": round(max(s["peak_rss_mb"] for s in ss)),
            "helper_peak_rss_mb": round(max(s["helper_peak_rss_mb"] for s in ss)),
        }
        for key in (
            "executor_peak_rss_mb",
            "executor_python_peak_rss_mb",
            "driver_jvm_peak_rss_mb",
        ):
            if key in middle:
                run[key] = max((v for s in ss for v in s[key]), default=None)
        if "engine_seconds" in middle:
            run["engine_seconds_of_median_run"] = middle["engine_seconds"]
        if "event_log" in middle:
            run["event_log_of_median_run"] = middle["event_log"]
        if "process_cpu_seconds" in middle:
            run["process_cpu_seconds_of_median_run"] = middle["process_cpu_seconds"]
        runs.append(run)
    by = {r["id"]: r for r in runs}

    for r in runs:
        for base, key in (
            ("python", "speedup_vs_python"),
            ("bare", "time_vs_bare_scan"),
            ("parse", "time_vs_parse"),
            ("coded", "time_vs_coded_only"),
        ):
            if base in by:
                a, b = (
                    (by[base]["seconds"], r["seconds"])
                    if base == "python"
                    else (r["seconds"], by[base]["seconds"])
                )
                r[key] = round(a / b, 2)
    ours = by["screen"]
    summary: dict[str, Any] = {
        "patients": args.patients,
        "seed": args.seed,
        "input_bytes": size,
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "command": f"uv run --frozen python bench/screen/run.py --patients {args.patients}"
        + (f" --repeat {args.repeat}" if args.repeat != 3 else "")
        + (f" --runs {args.runs}" if args.runs != "python,bare,parse,coded,screen" else "")
        + (" --spark" if args.spark else "")
        + (f" --results {args.results}" if args.results != "results.json" else "")
        + (" --no-bytecode-cache" if args.no_bytecode_cache else ""),
        # PYTHONPYCACHEPREFIX of the timed processes (None: as the environment says)
        "bytecode_cache": None if bytecode_cache is None else str(bytecode_cache),
        "load_average": {
            "start": load_at_start,
            "end": [round(x, 1) for x in os.getloadavg()],
        },
        "runs": runs,
        "targets": {
            "speedup_vs_python": ">= 20",
            "ratio_to_duckdb_bare_scan": "<= 2",
            "report_text_time_vs_coded_only": "<= 1.5",
            "report_text_peak_rss_mb": "< 2048",
        },
    }
    if "python" in by:
        summary["speedup_vs_python"] = ours.get("speedup_vs_python")
        if "coded" in by:
            summary["same_worklist_count_as_python"] = (
                by["coded"]["result"] == by["python"]["result"]
            )
    if "bare" in by:
        summary["ratio_to_duckdb_bare_scan"] = ours["time_vs_bare_scan"]
    if "parse" in by:
        summary["ratio_to_duckdb_parse"] = ours["time_vs_parse"]
    if "coded" in by:
        summary["report_text"] = {
            "time_vs_coded_only": ours["time_vs_coded_only"],
            "cpu_vs_coded_only": round(ours["cpu_seconds"] / by["coded"]["cpu_seconds"], 2),
            "peak_rss_mb": ours["peak_rss_mb"] + ours["helper_peak_rss_mb"],
            "coded_only_peak_rss_mb": by["coded"]["peak_rss_mb"],
            "worklist_patients": ours["result"],
            "coded_only_worklist_patients": by["coded"]["result"],
        }
    if args.spark:
        summary["spark"] = spark_summary(by, size, args.patients)
    (HERE / args.results).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"\n{args.patients:,} patients, {size / 1e9:.2f} GB NDJSON; median of runs; load average "
        f"{summary['load_average']['start'][0]} at the start, "
        f"{summary['load_average']['end'][0]} at the end"
    )
    print(
        f"{'run':38} {'seconds':>8} {'min':>7} {'CPU s':>7} {'patients/s':>11} "
        f"{'vs coded':>9} {'peak RSS MB':>12}"
    )
    for r in runs:
        print(
            f"{r['name']:38} {r['seconds']:>8.2f} {r['seconds_min']:>7.2f} "
            f"{r['cpu_seconds']:>7.1f} {r['patients_per_second']:>11,} "
            f"{r.get('time_vs_coded_only', '-'):>8}x "
            f"{r['peak_rss_mb']:>6} (+{r['helper_peak_rss_mb']})"
        )
    print(json.dumps({k: v for k, v in summary.items() if k not in ("runs", "targets")}))
    if args.spark:
        sp = summary["spark"]
        print(
            f"spark (ratios from this run; load average {summary['load_average']}):\n"
            f"  seconds: DuckDB {sp['seconds']['duckdb']}, 1 executor {sp['seconds']['1']}, "
            f"2 executors {sp['seconds']['2']}\n"
            f"  per core vs DuckDB: 1 executor {sp['per_core_vs_duckdb_1_executor']}x, "
            f"2 executors {sp['per_core_vs_duckdb_2_executors']}x (target >= 0.2)\n"
            f"  2 executors {sp['speedup_2_vs_1_executors']}x faster than 1 (target >= 1.7)\n"
            f"  MB/s per core {sp['mb_per_s_per_core']}\n"
            f"  executor peak RSS MB (JVM) {sp['executor_peak_rss_mb']}, "
            f"(Python workers) {sp['executor_python_peak_rss_mb']}\n"
            f"  driver peak RSS MB: Python {sp['driver_peak_rss_mb']}, "
            f"JVM {sp['driver_jvm_peak_rss_mb']}\n"
            f"  CPU seconds by process: DuckDB {sp['cpu_seconds']['duckdb']}, "
            f"1 executor {sp['cpu_seconds']['1']}, 2 executors {sp['cpu_seconds']['2']}; "
            f"Spark's total CPU vs DuckDB's {sp['cpu_vs_duckdb']}\n"
            f"  event log (1 executor) {sp['event_log_1_executor']}\n"
            f"  event log (2 executors) {sp['event_log_2_executors']}\n"
            f"  same worklist as DuckDB: {sp['same_worklist_count_as_duckdb']}"
        )
        print("spark profile (seconds per phase: 1 executor / 2 executors):")
        p1, p2 = sp["profile_1_executor"], sp["profile_2_executors"]
        for phase in dict.fromkeys([*p1, *p2]):
            print(f"  {phase:44} {p1.get(phase, 0):7.2f} {p2.get(phase, 0):7.2f}")


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value}x"


def spark_summary(by: dict[str, dict[str, Any]], size: int, patients: int) -> dict[str, Any]:
    """Spark scale-out figures, all from runs of the same invocation. DuckDB runs with one
    thread per core (2 here); a Spark executor has one core."""
    duck, one, two = by["screen"], by["spark1"], by["spark2"]
    cores = os.cpu_count() or 2
    duck_per_core = patients / duck["seconds"] / cores
    return {
        "seconds": {"duckdb": duck["seconds"], "1": one["seconds"], "2": two["seconds"]},
        "per_core_vs_duckdb_1_executor": round(patients / one["seconds"] / duck_per_core, 3),
        "per_core_vs_duckdb_2_executors": round(patients / two["seconds"] / 2 / duck_per_core, 3),
        "speedup_2_vs_1_executors": round(one["seconds"] / two["seconds"], 2),
        "mb_per_s_per_core": {
            "1": round(size / 1e6 / one["seconds"], 1),
            "2": round(size / 1e6 / two["seconds"] / 2, 1),
            "duckdb": round(size / 1e6 / duck["seconds"] / cores, 1),
        },
        "executor_peak_rss_mb": {
            "1": one.get("executor_peak_rss_mb"),
            "2": two.get("executor_peak_rss_mb"),
        },
        "executor_python_peak_rss_mb": {
            "1": one.get("executor_python_peak_rss_mb"),
            "2": two.get("executor_python_peak_rss_mb"),
        },
        "driver_peak_rss_mb": max(one["peak_rss_mb"], two["peak_rss_mb"]),
        "driver_jvm_peak_rss_mb": max(
            one.get("driver_jvm_peak_rss_mb") or 0, two.get("driver_jvm_peak_rss_mb") or 0
        ),
        "same_worklist_count_as_duckdb": one["result"] == two["result"] == duck["result"],
        "profile_1_executor": one.get("engine_seconds_of_median_run", {}),
        "profile_2_executors": two.get("engine_seconds_of_median_run", {}),
        "cpu_seconds": {
            "duckdb": duck["cpu_seconds"],
            "1": one.get("process_cpu_seconds_of_median_run"),
            "2": two.get("process_cpu_seconds_of_median_run"),
        },
        "cpu_vs_duckdb": {
            n: round(sum(r["process_cpu_seconds_of_median_run"].values()) / duck["cpu_seconds"], 2)
            for n, r in (("1", one), ("2", two))
            if "process_cpu_seconds_of_median_run" in r
        },
        "event_log_1_executor": one.get("event_log_of_median_run"),
        "event_log_2_executors": two.get("event_log_of_median_run"),
        "targets": {
            "per_core_vs_duckdb": ">= 0.2",
            "speedup_2_vs_1_executors": ">= 1.7",
        },
    }


if __name__ == "__main__":
    main()
