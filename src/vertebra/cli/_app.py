"""The shared Typer application. Bad input anywhere raises :class:`vertebra.errors.InputError`:
exit code 2, one line on stderr naming the field."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

app = typer.Typer(
    name="vertebra",
    help="Cited management plans for osteoporotic vertebral compression fractures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        from vertebra.knowledge import load

        typer.echo(f"vertebra {version('vertebra')} (knowledge base {load().version})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Cited management plans for osteoporotic vertebral compression fractures."""


class Format(StrEnum):
    """Output formats shared by ``plan`` and ``ask`` (docs/contract.md §4)."""

    json = "json"
    text = "text"
    markdown = "markdown"
