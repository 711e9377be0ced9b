"""``vertebra serve --workers 2``: worker processes sharing one socket (least-connections
accept, vertebra.http.balance), real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(os.name != "posix", reason="the shared-socket workers need POSIX")
def test_two_workers_serve_and_stop_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "VERTEBRA_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vertebra", "serve", "--port", str(port), "--workers", "2",
             "--no-access-log"],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Both workers accepting (each logs it once its app has started).
        while log.read_text().count("(least-connections)") < 2:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        plan = httpx.post(
            f"http://127.0.0.1:{port}/api/plan",
            json={"age": 80, "sex": "female", "fracture_levels": ["L1"]},
            timeout=10,
        )
        assert plan.status_code == 200
        assert plan.json()["pathway"] == "stable"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert text.count("Application startup complete") == 2
    assert text.count("Finished server process") == 2
