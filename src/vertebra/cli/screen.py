"""``vertebra screen DIR``: fracture liaison case-finding over a FHIR bulk export (contract §4)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from vertebra.cli._app import InvalidInput, app


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
    master: Annotated[str | None, typer.Option(help="Spark master URL (default local[*])")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Data cut-off date YYYY-MM-DD (default today)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Find patients with fragility fractures and measure fracture liaison care gaps."""
    from vertebra.screen.engines import make_engine
    from vertebra.screen.inputs import ExportError, discover
    from vertebra.screen.logic import statements
    from vertebra.screen.pipeline import screen as run_screen
    from vertebra.settings import fls_folder

    out = out if out is not None else fls_folder()
    if engine not in ("duckdb", "spark"):
        raise InvalidInput(f"engine: must be one of duckdb, spark (got {engine!r})")
    if master is not None and engine != "spark":
        raise InvalidInput("master: only used with --engine spark")
    try:
        cutoff = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError as exc:
        raise InvalidInput(f"as_of: not a date YYYY-MM-DD ({as_of!r})") from exc
    try:
        export = discover(source)
    except ExportError as exc:
        raise InvalidInput(f"source: {exc}") from exc
    steps = len(statements(cutoff))
    bar = tqdm(total=steps, desc="screen", unit="step", disable=not progress, file=sys.stderr)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        result = run_screen(source, out, make_engine(engine, master), cutoff, step, export)
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
