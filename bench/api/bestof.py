"""CPU per request of the ASGI app in-process, best of several batches (robust to the load
other processes put on the machine, unlike a mean): ``GET /healthz``, ``POST /api/plan`` and
the patient-view hook with the request pools of ``run.py`` and a fresh ES384 JWT per hook call.

    uv run --frozen python bench/api/bestof.py [LABEL] [--batch 200] [--rounds 12]

Prints the three figures, the mix (plan + patient-view, half each) and its ratio to
``/healthz`` - without HTTP, so the ratio is higher than the server's (``run.py``). Compare two
code versions by running it on each, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_app import HOOK_PATH, _call, warmed_app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("label", nargs="?", default="")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    with warmed_app() as warmed:
        app, facts, hooks = warmed.app, warmed.facts, warmed.hooks
        tokens = warmed.tokens(args.batch * args.rounds + 50)
        loop = asyncio.new_event_loop()

        def hook(i: int) -> Any:
            auth = (b"authorization", f"Bearer {tokens.pop()}".encode())
            return _call(app, "POST", HOOK_PATH, hooks[i % len(hooks)], [auth])

        cases: dict[str, Callable[[int], Any]] = {
            "healthz": lambda _i: _call(app, "GET", "/healthz", b"", []),
            "plan": lambda i: _call(app, "POST", "/api/plan", facts[i % len(facts)], []),
            "hook": hook,
        }
        best: dict[str, float] = {}
        for name, make in cases.items():
            for i in range(50 if name != "hook" else 10):  # warm-up
                if loop.run_until_complete(make(i)) != 200:
                    raise SystemExit(f"{name}: not HTTP 200")
            for r in range(args.rounds):
                t0 = time.process_time()
                for i in range(args.batch):
                    loop.run_until_complete(make(r * args.batch + i))
                ms = (time.process_time() - t0) / args.batch * 1000
                best[name] = min(best.get(name, ms), ms)
        loop.close()
        app.state.vertebra.close()
    mix = (best["plan"] + best["hook"]) / 2
    figures = " ".join(f"{k} {v:.3f}" for k, v in best.items())
    ratio = mix / best["healthz"]
    print(f"{args.label} CPU ms per request: {figures}; mix {mix:.3f} = {ratio:.1f}x healthz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
