"""Text and Markdown renderings show every recommendation, conflict and source of the plan."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES
from vertebra.engine import plan
from vertebra.facts import parse_facts
from vertebra.render import to_markdown, to_text


def _plan(name: str):  # type: ignore[no-untyped-def]
    return plan(parse_facts(json.loads((EXAMPLES / name).read_text())))


def test_markdown_has_every_title_conflict_and_numbered_source() -> None:
    p = _plan("renal-impairment.json")
    md = to_markdown(p)
    for r in p.recommendations:
        assert r.title in md
    for c in p.conflicts:
        assert c.topic in md
    for i, s in enumerate(p.sources, start=1):
        assert f"[^{i}]: {s.title}" in md
    assert "**AVOID**" in md


def test_text_shows_immediate_banner_only_when_needed() -> None:
    assert "IMMEDIATE ACTIONS" in to_text(_plan("neurological-deficit.json"))
    assert "IMMEDIATE ACTIONS" not in to_text(_plan("stable-acute.json"))


def test_text_lists_missing_information() -> None:
    p = _plan("minimal-unknowns.json")
    text = to_text(p)
    assert "MISSING INFORMATION" in text
    for m in p.missing_information:
        assert f"- {m.field}:" in text
