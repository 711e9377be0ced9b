"""``vertebra ask``: formats and exit codes (docs/contract.md §4)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

QUESTION = "What referrals are needed for a compression fracture at L2?"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vertebra", "ask", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_json_has_answer_and_citations() -> None:
    out = run(QUESTION)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answer"].startswith(f"# {QUESTION}")
    assert "seed-002" in data["citations"] and data["covered"] is True


@pytest.mark.parametrize(("fmt", "marker"), [("markdown", "[^1]"), ("text", "[1]")])
def test_markdown_and_text(fmt: str, marker: str) -> None:
    out = run(QUESTION, "--format", fmt)
    assert out.returncode == 0, out.stderr
    assert marker in out.stdout
    if fmt == "text":
        assert "[^" not in out.stdout and "**" not in out.stdout


def test_stdin() -> None:
    out = run("-", stdin=QUESTION)
    assert out.returncode == 0 and json.loads(out.stdout)["intent"] == "referral"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 2001])
def test_bad_input_exits_2_naming_question(bad: str) -> None:
    out = run(bad)
    assert out.returncode == 2
    assert "question" in out.stderr and out.stdout == ""


def test_a_terminal_gets_text_by_default_and_json_on_request() -> None:
    """Issue 12: text in a terminal; JSON with --format json; a pipe keeps JSON (contract §4)."""
    import os
    import pty

    def in_terminal(*args: str) -> str:
        pid, fd = pty.fork()
        if pid == 0:  # child: stdout is the pseudo-terminal
            os.execvp(sys.executable, [sys.executable, "-m", "vertebra", "ask", *args])
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.waitpid(pid, 0)
        return b"".join(chunks).decode("utf-8", "replace")

    text = in_terminal("max paracetamol?")
    assert "Answer." in text and "[1]" in text and not text.lstrip().startswith("{")
    data = json.loads(in_terminal("max paracetamol?", "--format", "json"))
    assert data["covered"] is True
    assert json.loads(run("max paracetamol?").stdout)["mode"] == "fact"  # a pipe: JSON
