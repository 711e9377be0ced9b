"""The ``vertebra`` command line, run as a real subprocess (docs/contract.md §4 exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES

VERTEBRA = [sys.executable, "-m", "vertebra"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VERTEBRA, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_plan_json_from_file() -> None:
    out = run("plan", str(EXAMPLES / "stable-acute.json"))
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["pathway"] == "stable"
    assert set(plan) >= {
        "knowledge_version",
        "pathway",
        "phase",
        "recommendations",
        "conflicts",
        "missing_information",
        "timeline",
        "sources",
    }


def test_plan_from_stdin_matches_file() -> None:
    path = EXAMPLES / "neurological-deficit.json"
    a = run("plan", str(path))
    b = run("plan", "-", stdin=path.read_text())
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_plan_text_and_markdown() -> None:
    text = run("plan", str(EXAMPLES / "neurological-deficit.json"), "--format", "text")
    assert text.returncode == 0
    assert "IMMEDIATE ACTIONS" in text.stdout
    md = run("plan", str(EXAMPLES / "neurological-deficit.json"), "--format", "markdown")
    assert md.returncode == 0
    assert md.stdout.startswith("# Management plan")
    assert "[^1]:" in md.stdout


def test_invalid_facts_exit_2_naming_the_field() -> None:
    out = run(
        "plan", "-", stdin=json.dumps({"age": 70, "sex": "female", "fracture_levels": ["L9"]})
    )
    assert out.returncode == 2
    assert "fracture_levels[0]" in out.stderr
    assert out.stdout == ""


def test_not_json_exit_2() -> None:
    out = run("plan", "-", stdin="{not json")
    assert out.returncode == 2
    assert "not valid JSON" in out.stderr


def test_missing_file_exit_2(tmp_path: Path) -> None:
    out = run("plan", str(tmp_path / "absent.json"))
    assert out.returncode == 2
    assert "no such file" in out.stderr


def test_bad_format_is_a_usage_error() -> None:
    out = run("plan", str(EXAMPLES / "stable-acute.json"), "--format", "pdf")
    assert out.returncode == 2


def test_schema_command() -> None:
    out = run("schema")
    assert out.returncode == 0
    assert "fracture_levels" in json.loads(out.stdout)["properties"]


def test_knowledge_list_show_and_lint() -> None:
    listing = run("knowledge")
    assert listing.returncode == 0
    assert "refer-fracture-liaison-service" in listing.stdout
    shown = run("knowledge", "show", "imaging")
    assert "imaging-mri-without-contrast" in shown.stdout
    assert run("knowledge", "show", "nope").returncode == 2
    lint = run("knowledge", "lint")
    assert lint.returncode == 0
    assert lint.stdout.startswith("ok:")


def test_knowledge_lint_fails_on_a_broken_folder(tmp_path: Path) -> None:
    import shutil
    from importlib import resources

    folder = tmp_path / "data"
    shutil.copytree(str(resources.files("vertebra.knowledge").joinpath("data")), folder)
    table = folder / "tables" / "30-imaging.yaml"
    table.write_text(
        table.read_text().replace(
            "references: [seed-000, seed-001, seed-002]", "references: [made-up]", 1
        )
    )
    out = run("knowledge", "lint", "--path", str(folder))
    assert out.returncode == 1
    assert "unknown source id 'made-up'" in out.stderr


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("vertebra ") and "knowledge base" in out.stdout


def test_levels_and_sex_in_any_case_are_normalised() -> None:
    a = run("plan", "-", stdin='{"age": 81, "sex": "F", "fracture_levels": ["l1"]}')
    b = run("plan", "-", stdin='{"age": 81, "sex": "female", "fracture_levels": ["L1"]}')
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout


def test_did_you_mean_for_fields_and_words() -> None:
    out = run(
        "plan",
        "-",
        stdin='{"age": 81, "sex": "female", "fracture_levels": ["L1"], '
        '"neurologic_deficit": true, "mechanism": "low-energy"}',
    )
    assert out.returncode == 2
    assert "neurologic_deficit: unknown field; did you mean 'neurological_deficit'?" in out.stderr
    assert "did you mean 'low_energy'?" in out.stderr


def test_json_when_piped_text_on_a_terminal() -> None:
    piped = run("plan", str(EXAMPLES / "stable-acute.json"))
    assert piped.stdout.startswith("{")
    import pty

    code = (
        "import sys; from vertebra.cli import main; "
        f"sys.argv = ['vertebra', 'plan', {str(EXAMPLES / 'stable-acute.json')!r}]; main()"
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child writes to a terminal
        import os

        os.execv(sys.executable, [sys.executable, "-c", code])
    chunks = []
    while True:
        try:
            data = __import__("os").read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    __import__("os").waitpid(pid, 0)
    assert b"VERTEBRA MANAGEMENT PLAN" in b"".join(chunks)
