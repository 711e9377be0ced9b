"""The shared Typer application. Bad input anywhere raises :class:`vertebra.errors.InputError`:
exit code 2, one line on stderr naming the field."""

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
    """Output formats shared by ``plan`` and ``ask`` (docs/contract.md §4)."""

    json = "json"
    text = "text"
    markdown = "markdown"

