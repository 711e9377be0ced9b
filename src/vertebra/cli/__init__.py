"""The ``vertebra`` command line: a thin layer over the core (docs/contract.md §4).

Each command lives in its own module and registers itself on :data:`app`.
Exit codes: 0 success, 2 invalid input (message on stderr names the field), 1 internal error.
"""

from __future__ import annotations

import gc
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
    """Console entry point: runs one command and ends the process."""
    code = _run()
    # Every object left goes with the process: moving them out of the collector's sight spares
    # the interpreter's final collections a walk over all of them (a quarter of `vertebra
    # plan`'s wall time; bench/cli). atexit handlers run as before and objects are still freed
    # by reference counting at shutdown; only cyclic garbage made before this point is left to
    # the operating system with the rest of the process's memory.
    gc.freeze()
    sys.exit(code)


def _run() -> int:
    """Run the command line; the exit code."""
    try:
        code = app(standalone_mode=False)
        # click returns the code of a typer.Exit instead of raising it when not standalone
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except MissingExtra as exc:  # an optional feature without its extra: one line, exit 2
        typer.echo(f"error: {exc}", err=True)
        return 2
    except InputError as exc:  # every layer's bad-input error: names the field
        typer.echo(f"error: {_where(exc)}{describe(exc.errors)}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        return 130
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if isinstance(code, int):
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            return code
        typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        return 1


def _where(exc: InputError) -> str:
    from vertebra.facts import FactsError

    return "invalid patient facts: " if isinstance(exc, FactsError) else ""
