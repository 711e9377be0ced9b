"""``vertebra synth``: a deterministic synthetic FHIR bulk export (docs/contract.md §4)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from vertebra.cli._app import app
from vertebra.errors import InputError


@app.command()
def synth(
    patients: Annotated[int, typer.Option(help="Number of patients")],
    out: Annotated[Path, typer.Option(help="Output folder")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files)")] = 0,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .ndjson.gz")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (output is the same)")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Write a synthetic bulk export with fragility fractures, DXA and treatment gaps."""
    from tqdm import tqdm

    from vertebra.synth import generate

    if patients < 1:
        raise InputError.one("patients", f"must be at least 1 (got {patients})")
    if workers < 0:
        raise InputError.one("workers", f"must be 0 (automatic) or more (got {workers})")
    n_workers = workers or min(os.cpu_count() or 1, 4)
    with tqdm(
        total=patients, desc="synth", unit="patient", disable=not progress, file=sys.stderr
    ) as bar:
        counts = generate(patients, out, seed, gzip, n_workers, bar.update)
    typer.echo(", ".join(f"{t} {n}" for t, n in counts.items()) + f" -> {out}")
