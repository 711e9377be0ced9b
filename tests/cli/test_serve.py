"""``vertebra serve --workers 2``: uvicorn's own supervisor and worker processes, each with its
own app and the same limits; real processes."""

from __future__ import annotations

import json
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


def _serve_two_workers(tmp_path: Path, port: int) -> tuple[subprocess.Popen[str], Path]:
    """``vertebra serve --workers 2`` on ``port`` with a throw-away SQLite store, its output
    (both streams) going to ``serve.log`` in ``tmp_path``."""
    env = {**os.environ, "VERTEBRA_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "vertebra", "serve", "--port", str(port), "--workers", "2"]
    argv.append("--no-access-log")
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return proc, log


def _wait_for_workers(proc: subprocess.Popen[str], log: Path, count: int, deadline: float) -> None:
    """Until the log shows ``count`` worker starts (each logs it once its app has started)."""
    while log.read_text().count("Application startup complete") < count:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"fewer than {count} worker starts logged"
        time.sleep(0.3)


def test_two_workers_serve_and_stop_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    proc, log = _serve_two_workers(tmp_path, port)
    try:
        deadline = time.monotonic() + 60
        _wait_for_workers(proc, log, 2, deadline)  # both workers accepting
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        plan = httpx.post(
            f"http://127.0.0.1:{port}/api/plan",
            json={"age": 80, "sex": "female", "fracture_levels": ["L1"]},
            timeout=10,
        )
        assert plan.status_code == 200
        assert plan.json()["pathway"] == "stable"
        # each worker applies the connection limits (the protocol is imported by name there)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000)
            assert conn.recv(200).startswith(b"HTTP/1.1 431 ")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert text.count("Application startup complete") == 2
    assert text.count("Finished server process") == 2


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_killed_worker_is_logged_and_restarted(tmp_path: Path) -> None:
    """Issue 14 item 6: kill -9 one worker; uvicorn's supervisor logs it and starts another."""
    port = _free_port()
    proc, log = _serve_two_workers(tmp_path, port)
    try:
        deadline = time.monotonic() + 60
        _wait_for_workers(proc, log, 2, deadline)
        workers = {
            p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()
        }
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        _wait_for_workers(proc, log, 3, deadline + 60)  # the restarted one
        text = log.read_text()
        assert f"Child process [{victim}] died" in text
        now = {
            p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()
        }
        assert len(now) == 2 and victim not in now
        for _ in range(6):  # the workers answer
            with httpx.Client() as client:
                assert client.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_jwt_mode_without_public_base_url_refuses_to_start(tmp_path: Path) -> None:
    """Issue 14 item 9: exit 2 with a message naming VERTEBRA_PUBLIC_BASE_URL."""
    from vertebra.security.devkeys import EhrSigner

    issuers = json.dumps([EhrSigner(iss="https://ehr.example.org").issuer()])
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEBRA_")}
    env.update(
        {
            "VERTEBRA_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}",
            "VERTEBRA_TRUSTED_ISSUERS": issuers,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "vertebra", "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "VERTEBRA_PUBLIC_BASE_URL is required" in done.stderr
