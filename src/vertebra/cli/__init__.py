"""The ``vertebra`` command line: a thin layer over the core (docs/contract.md §4).

Each command lives in its own module and registers itself on :data:`app`.
Exit codes: 0 success, 2 invalid input (message on stderr names the field), 1 internal error.
"""

from __future__ import annotations

import sys

import typer

from vertebra.cli import _app
from vertebra.errors import InputError, MissingExtra, describe

app = _app.app

# Each module registers its commands on import; keep this list sorted.
from vertebra.cli import (  # noqa: E402
    ask,
    audit,
    knowledge,
    plan,
    screen,
    serve,
    synth,
)

__all__ = ["app", "ask", "audit", "knowledge", "main", "plan", "screen", "serve", "synth"]


def main() -> None:
    """Console entry point."""
    try:
        code = app(standalone_mode=False)
        # click returns the code of a typer.Exit instead of raising it when not standalone
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except MissingExtra as exc:  # an optional feature without its extra: one line, exit 2
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except InputError as exc:  # every layer's bad-input error: names the field
        typer.echo(f"error: {_where(exc)}{describe(exc.errors)}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if isinstance(code, int):
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            sys.exit(code)
        typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


def _where(exc: InputError) -> str:
    from vertebra.facts import FactsError

    return "invalid patient facts: " if isinstance(exc, FactsError) else ""
