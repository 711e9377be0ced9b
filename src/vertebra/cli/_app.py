"""The shared Typer application and the CLI's input error."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vertebra",
    help="Cited management plans for osteoporotic vertebral compression fractures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class InvalidInput(Exception):
    """Bad user input: exit code 2, message on stderr naming the field."""
