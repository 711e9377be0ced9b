"""How long the event loop's thread waits for the GIL while a worker thread plans a big Bundle,
at Python's default switch interval (5 ms) and at the server's (1 ms), alternating:

    uv run --frozen python bench/api/gil_wait.py [--rounds 3] [--seconds 3]
    uv run --frozen python bench/api/gil_wait.py --paced [--seconds 10]

A worker thread plans the bench's 0.8 MB Bundle (1,900 Conditions) over and over, as the
server does for a big body; the main thread releases the GIL (``time.sleep(0)``, as each socket
or SQLite call of a normal request does) and measures how long it takes to get it back.

``--paced``: the worker thread does what the big-Bundle client of ``run.py`` asks for instead -
one 4.7 MB Bundle (16,000 Conditions, refused with 413) and one 0.8 MB Bundle (planned) per
second - at the server's 1 ms switch interval, while the main thread does ~0.4 ms units of
Python work with a GIL release after each (a stand-in for the event loop serving requests);
prints the percentiles of how long a unit took, with and without the worker, and the worker's
CPU per second. What it shows is the stall the normal clients see; compare code versions with
it back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import big_bundles

from vertebra.http.routers.api import _read_and_plan
from vertebra.settings import Settings


def _units(seconds: float, unit: int) -> list[float]:
    """Wall ms of each unit of Python work (plus one GIL release) for ``seconds``."""
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        sum(range(unit))
        time.sleep(0)
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)


def paced(seconds: float) -> None:
    from vertebra.http.app import _warm_up

    bodies = big_bundles()
    settings = Settings(database_url="sqlite:///:memory:", auth="disabled")
    _warm_up()  # the server's GC set-up and switch interval
    sys.setswitchinterval(0.001)
    unit = 1
    while True:  # a unit of ~0.2 ms
        t0 = time.perf_counter()
        sum(range(unit))
        if time.perf_counter() - t0 > 0.0002:
            break
        unit *= 2
    stop = threading.Event()
    cpu: list[float] = []

    def client() -> None:
        start = time.perf_counter()
        i = 0
        while not stop.is_set():
            due = start + i * 0.5  # 2 requests/s, alternating
            while time.perf_counter() < due and not stop.is_set():
                time.sleep(0.005)
            t0 = time.thread_time()
            with contextlib.suppress(Exception):  # the 413 of the big one
                _read_and_plan(settings, bodies[i % 2])
            cpu.append(time.thread_time() - t0)
            i += 1

    for label in ("alone", "with the big-Bundle client"):
        thread = None
        if label != "alone":
            thread = threading.Thread(target=client)
            thread.start()
        units = _units(seconds, unit)
        if thread is not None:
            stop.set()
            thread.join()
        n = len(units)
        print(
            f"{label:<28} {n} units: p50 {units[n // 2]:.2f}, p99 {units[int(n * 0.99)]:.2f}, "
            f"p99.9 {units[int(n * 0.999)]:.2f}, max {units[-1]:.2f} ms"
        )
    print(f"the big-Bundle client's work: {sum(cpu) / max(1, len(cpu)) * 2000:.0f} ms CPU per s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--paced", action="store_true", help="the big-Bundle client's schedule")
    args = parser.parse_args()
    if args.paced:
        paced(args.seconds)
        return 0
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
