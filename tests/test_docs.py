"""Documentation cannot fall behind: generated references match the code, and every command,
HTTP route and knowledge rule is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertebra.docgen import DOCS, GENERATED, cli_reference, knowledge_reference
from vertebra.knowledge import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_reference_is_up_to_date(name: str) -> None:
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert committed == GENERATED[name](), (
        f"docs/{name} is out of date: run `uv run --frozen python -m vertebra.docgen`"
    )


def test_every_command_is_documented() -> None:
    text = cli_reference()
    for command in ("plan", "schema", "knowledge", "serve", "screen", "synth", "ask"):
        assert f"## `vertebra {command}`" in text, command


def test_every_rule_is_documented() -> None:
    text = knowledge_reference()
    kb = load()
    for row in kb.rows():
        assert f"`{row.row.id}`" in text
    for srow in kb.safety_rows:
        assert f"`{srow.row.id}`" in text
    for source in kb.sources:
        assert f"`{source.id}`" in text


def test_every_http_route_is_documented(tmp_path: Path) -> None:
    from vertebra.http import create_app
    from vertebra.settings import Settings

    docs = "\n".join(
        p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docs.sqlite3'}", auth="disabled")
    app = create_app(settings)
    routes = sorted(app.openapi()["paths"])
    app.state.vertebra.close()
    assert routes
    undocumented = [path for path in routes if f"`{path}`" not in docs and path not in docs]
    assert not undocumented, f"routes missing from README/docs: {undocumented}"
