"""How long the event loop's thread waits for the GIL while a worker thread plans a big Bundle,
at Python's default switch interval (5 ms) and at the server's (1 ms), alternating:

    uv run --frozen python bench/api/gil_wait.py [--rounds 3] [--seconds 3]

A worker thread plans the bench's 0.8 MB Bundle (1,900 Conditions) over and over, as the
server does for a big body; the main thread releases the GIL (``time.sleep(0)``, as each socket
or SQLite call of a normal request does) and measures how long it takes to get it back.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import big_bundles

from vertebra.http.routers.api import _read_and_plan
from vertebra.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    body = big_bundles()[1]
    settings = Settings(database_url="sqlite:///:memory:", auth="disabled")
    _read_and_plan(settings, body)  # warm: knowledge base, value sets

    def work(stop: threading.Event) -> None:
        while not stop.is_set():
            _read_and_plan(settings, body)

    for _ in range(args.rounds):
        for interval in (0.005, 0.001):
            sys.setswitchinterval(interval)
            stop = threading.Event()
            thread = threading.Thread(target=work, args=(stop,))
            thread.start()
            waits: list[float] = []
            end = time.perf_counter() + args.seconds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                time.sleep(0)
                waits.append((time.perf_counter() - t0) * 1000)
                sum(range(2000))  # a little Python work between releases, as a request does
            stop.set()
            thread.join()
            waits.sort()
            n = len(waits)
            print(
                f"switch interval {interval * 1000:.0f} ms: {n} GIL releases, wait mean "
                f"{sum(waits) / n:.2f} ms, p50 {waits[n // 2]:.2f}, p90 "
                f"{waits[int(n * 0.9)]:.2f}, p99 {waits[int(n * 0.99)]:.2f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
