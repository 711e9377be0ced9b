"""``vertebra serve`` with pieces of its performance machinery switched off, to measure what
each one earns (``run.py --variant ...``).

    BENCH_API_VARIANT=no-gc-freeze,no-raw-sqlite python bench/api/variant_server.py serve ...

The switches are applied when this module is imported, so they hold in the ``--workers``
processes too (``multiprocessing``'s spawn imports the parent's main module in each child):

* ``no-gc-freeze``: the start-up ``gc.freeze()`` is skipped (the GC thresholds stay tuned);
* ``no-gc-tuning``: ``gc.freeze()`` skipped and Python's default GC thresholds kept;
* ``no-raw-sqlite``: audit writes on a SQLite file go through SQLAlchemy Core (the path used
  for PostgreSQL) instead of the prepared sqlite3 writer and its checkpoint thread.
"""

from __future__ import annotations

import gc
import os
from typing import Any

VARIANTS = {"no-gc-freeze", "no-gc-tuning", "no-raw-sqlite"}


def apply(variants: set[str]) -> None:
    unknown = variants - VARIANTS
    if unknown:
        raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))}")
    if variants & {"no-gc-freeze", "no-gc-tuning"}:
        gc.freeze = lambda: None
    if "no-gc-tuning" in variants:
        gc.set_threshold = lambda *_args: None  # type: ignore[assignment]
    if "no-raw-sqlite" in variants:
        from vertebra.store import Store

        original = Store.__init__

        def without_raw_writer(self: Store, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None

        Store.__init__ = without_raw_writer  # type: ignore[method-assign]


apply({v for v in os.environ.get("BENCH_API_VARIANT", "").split(",") if v})

if __name__ == "__main__":
    from vertebra.cli import main

    main()
