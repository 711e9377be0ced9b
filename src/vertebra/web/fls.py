"""The fracture liaison (FLS) page: what ``vertebra screen`` wrote to its output folder.

The folder is ``$VERTEBRA_DATA_DIR/fls`` (default ``~/.local/share/vertebra/fls``, next to the
default database). Fill it with ``vertebra screen EXPORT --out FOLDER`` or with the page's
"Run the demo screen" button, which screens a small synthetic export (``vertebra synth``) into
its own folder (``fls-demo`` next to it, shown at ``/fls?source=demo``): demo data never
overwrites real results.
"""

from __future__ import annotations

import csv
import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vertebra.screen import labels
from vertebra.settings import fls_folder

FILES = ("report.html", "worklist.csv", "kpis.json")
MAX_ROWS = 200
DEMO_PATIENTS = 2000
DEMO_SEED = 7

_lock = threading.Lock()


def folder() -> Path:
    """Where the page reads ``vertebra screen`` output from: the same setting as the default of
    ``vertebra screen --out`` (:func:`vertebra.settings.fls_folder`)."""
    return fls_folder()


def demo_folder() -> Path:
    """Where the demo button writes: a folder of its own next to :func:`folder`, so that demo
    data never overwrites real screening results."""
    return folder().with_name("fls-demo")


@dataclass
class Screen:
    folder: Path
    kpis: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    total_rows: int = 0
    files: list[str] = field(default_factory=list)
    problem: str | None = None


def read(where: Path) -> Screen:
    """Read kpis.json and worklist.csv; a missing or unreadable folder is reported, not raised."""
    result = Screen(folder=where)
    result.files = [name for name in FILES if (where / name).is_file()]
    kpis_path = where / "kpis.json"
    if not kpis_path.is_file():
        result.problem = "No screening results in this folder yet."
        return result
    try:
        kpis = json.loads(kpis_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.problem = f"kpis.json cannot be read: {exc}"
        return result
    if not isinstance(kpis, dict):
        result.problem = "kpis.json is not a JSON object"
        return result
    result.kpis = kpis
    worklist = where / "worklist.csv"
    if worklist.is_file():
        with worklist.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = labels.by_priority(list(reader))
            present = set(reader.fieldnames or ()) | {"priority"}
        result.total_rows = len(rows)
        result.rows = rows[:MAX_ROWS]
        result.columns = [
            c
            for c in labels.SHOWN
            if c in present and (c not in ("patient_name", "mrn") or any(r.get(c) for r in rows))
        ]
    return result


def run_demo(where: Path) -> dict[str, Any]:
    """Screen a synthetic export (``vertebra synth``) into ``where``; returns the KPIs."""
    from vertebra.screen.engines import make_engine
    from vertebra.screen.pipeline import screen
    from vertebra.synth import REFERENCE_DATE, generate

    with _lock, tempfile.TemporaryDirectory(prefix="vertebra-fls-demo-") as tmp:
        export = Path(tmp) / "export"
        generate(DEMO_PATIENTS, export, seed=DEMO_SEED)
        result = screen(export, where, make_engine("duckdb"), REFERENCE_DATE)
        return result.kpis
