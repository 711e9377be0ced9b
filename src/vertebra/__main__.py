"""``python -m vertebra`` and the ``vertebra`` command: start the command line.

Importing the CLI allocates about 10^5 objects that live as long as the process (modules, the
pydantic models and their validators) and no garbage. The cyclic collector, at its default
threshold of 700 allocations, would walk them again and again for nothing: it is paused while
they are imported, and they are then moved out of its sight (:func:`gc.freeze`). Only the
process that runs the command does this; importing :mod:`vertebra.cli` elsewhere (the tests)
leaves the collector alone. Figures: README, "Benchmarks", CLI cold start.

The command also starts without pydantic plugins (``PYDANTIC_DISABLE_PLUGINS=__all__``, pydantic's
own switch, unless the variable is already set): vertebra has none, and looking for them scans
the entry points of every installed distribution at the first model (about 5 ms of a 145 ms
``vertebra plan``). Set ``PYDANTIC_DISABLE_PLUGINS=`` (empty) to load them.
"""

from __future__ import annotations

import gc
import os


def main() -> None:
    """Run the command line (the ``vertebra`` console script)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    collecting = gc.isenabled()
    gc.disable()
    try:
        from vertebra.cli import main as run
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    run()


if __name__ == "__main__":
    main()
