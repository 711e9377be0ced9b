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
        capture_output=True, text=True, input=stdin, timeout=120, check=False,
    )  # fmt: skip


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
