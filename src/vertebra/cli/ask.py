"""``vertebra ask "QUESTION"``: a cited answer from the knowledge base (docs/contract.md §4)."""

from __future__ import annotations

from typing import Annotated

import typer

from vertebra.cli._app import Format, app


@app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="The question, in quotes; - reads stdin")],
    format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: text in a terminal, json when stdout is a pipe or file",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Answer a clinician's question from the knowledge base, with numbered citations.

    In a terminal the answer is printed as text; when stdout is not a terminal (a pipe, a file)
    the default stays JSON so scripts keep working. ``--format json|text|markdown`` chooses.
    """
    if format is None:
        import sys

        format = Format.text if sys.stdout.isatty() else Format.json
    from vertebra.ask import answer, to_text  # on first use: medspaCy, bm25s and numpy are slow

    if question == "-":
        import sys

        question = sys.stdin.read()
    result = answer(question)  # AskError: exit 2 naming the field (vertebra.cli.main)
    if format is Format.json:
        typer.echo(result.to_json())
    elif format is Format.markdown:
        typer.echo(result.answer, nl=False)
    else:
        typer.echo(to_text(result.answer), nl=False)
