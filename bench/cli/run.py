"""Cold start of ``vertebra plan FILE`` as a ratio to ``python -c "import pydantic, yaml"``.

Both commands run alternately in fresh processes (``--runs`` each, default 15) in the same run,
so the ratio holds on a loaded machine; the median of each is reported. The target (issue 15) is
a ratio of at most 3.

Both are timed as installed software starts: from bytecode. ``pip install`` compiles it at
install time; the warm-up runs here write it (``PYTHONDONTWRITEBYTECODE`` is unset for them, as
a shell that sets it, like this project's sandbox, would otherwise make every timed run compile
every module from source).

    uv run --frozen python bench/cli/run.py [--runs N] [--file examples/stable-acute.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASELINE = [sys.executable, "-c", "import pydantic, yaml"]


def _seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--file", default="examples/stable-acute.json")
    args = parser.parse_args()
    plan = [sys.executable, "-m", "vertebra", "plan", args.file]
    warm = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for command in (BASELINE, plan):  # the file system cache, and the bytecode
        _seconds(command, warm)
    base: list[float] = []
    cli: list[float] = []
    for _ in range(args.runs):
        base.append(_seconds(BASELINE))
        cli.append(_seconds(plan))
    b, c = statistics.median(base), statistics.median(cli)
    print(f"import pydantic, yaml   median {b * 1000:7.1f} ms  ({args.runs} runs, from bytecode)")
    print(f"vertebra plan {args.file}  median {c * 1000:7.1f} ms")
    print(f"ratio {c / b:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
