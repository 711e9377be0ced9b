"""The shared Typer application and the CLI's input error."""

from __future__ import annotations

from enum import StrEnum

import typer

app = typer.Typer(
    name="vertebra",
    help="Cited management plans for osteoporotic vertebral compression fractures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(StrEnum):
    """Output formats shared by ``plan`` and ``ask`` (contract §4)."""

    json = "json"
    text = "text"
    markdown = "markdown"


class InvalidInput(Exception):
    """Bad user input: exit code 2, message on stderr naming the field."""
