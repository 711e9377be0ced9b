"""``vertebra plan`` and ``vertebra schema``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from vertebra.cli._app import Format, app
from vertebra.cli._input import facts_and_evidence, read_json
from vertebra.engine import plan as make_plan
from vertebra.facts import facts_json_schema


@app.command("plan")
def plan_command(
    file: Annotated[
        str, typer.Argument(help="Patient facts JSON or a FHIR R4 Bundle; - for stdin")
    ],
    format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: text on a terminal, json when piped or redirected)",
        ),
    ] = None,
) -> None:
    """Print the cited management plan for one patient.

    Fracture levels and sex are accepted in any case ("l1", "F"); misspelt fields and words get
    a "did you mean" suggestion.
    """
    facts, from_text = facts_and_evidence(read_json(file))
    result = make_plan(facts)
    if from_text:
        result = result.model_copy(update={"facts_from_text": from_text})
    if format is None:
        format = Format.text if sys.stdout.isatty() else Format.json
    if format is Format.json:
        typer.echo(result.to_json())
    elif format is Format.text:
        from vertebra.render import to_text

        typer.echo(to_text(result), nl=False)
    else:
        from vertebra.render import to_markdown

        typer.echo(to_markdown(result), nl=False)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the patient facts (docs/contract.md §1)."""
    typer.echo(json.dumps(facts_json_schema(), indent=2, sort_keys=True))
