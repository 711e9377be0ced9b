"""``vertebra screen DIR``: fracture liaison case-finding over a FHIR bulk export
(docs/contract.md §4)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from vertebra.cli._app import app
from vertebra.errors import InputError

ENGINES = ("duckdb", "spark")


@app.command()
def screen(
    source: Annotated[
        Path, typer.Argument(help="Bulk export folder (Type.*.ndjson[.gz]) or manifest")
    ],
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark")] = "duckdb",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder (default: $VERTEBRA_FLS_DIR, else $VERTEBRA_DATA_DIR/fls, else "
            "./fls — the folder the web app's /fls page reads)"
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master URL: local[*] (default), local-cluster[N,cores,MB], "
            "spark://host:7077, k8s://https://host:443"
        ),
    ] = None,
    conf: Annotated[
        list[str] | None,
        typer.Option(
            "--conf",
            help="Extra Spark configuration KEY=VALUE (repeatable), "
            "e.g. --conf spark.executor.memory=4g",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Data cut-off date YYYY-MM-DD (default today)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    strict: Annotated[
        bool, typer.Option(help="Exit 2 at the end if any input file could not be read")
    ] = False,
) -> None:
    """Find patients with fragility fractures and measure fracture liaison care gaps."""
    from tqdm import tqdm

    from vertebra.screen.engines import SparkJobError, make_engine
    from vertebra.screen.inputs import ExportError, discover
    from vertebra.screen.logic import statements
    from vertebra.screen.pipeline import screen as run_screen
    from vertebra.settings import fls_folder

    out = out if out is not None else fls_folder()
    if engine not in ENGINES:
        raise InputError.one("engine", f"unknown engine {engine!r}", "literal_error", ENGINES)
    if master is not None and engine != "spark":
        raise InputError.one("master", "only used with --engine spark")
    if conf and engine != "spark":
        raise InputError.one("conf", "only used with --engine spark")
    spark_conf: dict[str, str] = {}
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not key.strip().startswith("spark."):
            raise InputError.one("conf", f"expected spark.KEY=VALUE (got {item!r})")
        spark_conf[key.strip()] = value
    # MissingExtra (exit 2) before any work without pyspark
    chosen = make_engine(engine, master, spark_conf)
    try:
        cutoff = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError as exc:
        raise InputError.one("as_of", f"not a date YYYY-MM-DD ({as_of!r})") from exc
    try:
        export = discover(source)
    except ExportError as exc:
        raise InputError.one("source", str(exc)) from exc
    _check_out(out)
    steps = len(statements(cutoff))
    bar = tqdm(total=steps, desc="screen", unit="step", disable=not progress, file=sys.stderr)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        result = run_screen(source, out, chosen, cutoff, step, export)
    except SparkJobError as exc:
        bar.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        bar.close()
    pop = result.kpis["population"]
    typer.echo(
        f"{pop['patients']} patients screened, {pop['fragility_fracture_patients']} with a "
        f"fragility fracture ({pop['vertebral_fracture_patients']} vertebral) -> {out}"
    )
    for ind in result.kpis["indicators"]:
        pct = "n/a" if ind["percentage"] is None else f"{ind['percentage']}%"
        typer.echo(f"  {ind['title']}: {ind['numerator']}/{ind['denominator']} ({pct})")
    bad = sum(q["lines"] for q in result.kpis["data_quality"]["unusable_lines"])
    if bad:
        typer.echo(f"  {bad} unusable line(s): see kpis.json data_quality", err=True)
    for warning in result.kpis["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    unreadable = result.kpis["data_quality"]["unreadable_files"]
    if strict and unreadable:
        names = ", ".join(f["file"] for f in unreadable)
        raise InputError.one(
            "source",
            f"{len(unreadable)} file(s) could not be read ({names}); "
            "the outputs were written without them",
        )


def _check_out(out: Path) -> None:
    """``--out`` must be a folder this process can create and write (exit 2 otherwise)."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise InputError.one("out", f"{out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".vertebra-write-test-"):
            pass
    except OSError as exc:
        raise InputError.one("out", f"cannot write to {out} ({exc.strerror or exc})") from exc
