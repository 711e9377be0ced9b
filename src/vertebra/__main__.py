"""``python -m vertebra`` and the ``vertebra`` command: start the command line.

Importing the CLI allocates about 10^5 objects that live as long as the process (modules, the
pydantic models and their validators) and no garbage. The cyclic collector, at its default
threshold of 700 allocations, would walk them again and again for nothing: it is paused while
they are imported, and they are then moved out of its sight (:func:`gc.freeze`). Only the
process that runs the command does this; importing :mod:`vertebra.cli` elsewhere (the tests)
leaves the collector alone. Figures: README, "Benchmarks", CLI cold start.
"""

from __future__ import annotations

import gc


def main() -> None:
    """Run the command line (the ``vertebra`` console script)."""
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
