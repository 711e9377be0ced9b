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
    assert md.index("## At a glance") < md.index("## Full plan")


def test_text_shows_immediate_banner_only_when_needed() -> None:
    assert "IMMEDIATE ACTIONS" in to_text(_plan("neurological-deficit.json"))
    assert "IMMEDIATE ACTIONS" not in to_text(_plan("stable-acute.json"))


def test_text_lists_missing_information() -> None:
    p = _plan("minimal-unknowns.json")
    text = to_text(p)
    assert "MISSING INFORMATION" in text
    for m in p.missing_information:
        assert f"({m.field}):" in text


def test_glance_comes_first_with_constraints_and_what_is_left() -> None:
    text = to_text(_plan("renal-impairment.json"))
    glance = " ".join(text.split("FULL PLAN", 1)[0].split())
    assert "SAFETY CONSTRAINTS" in glance
    # the renal verdicts, with the medicines they rule out
    assert "Creatinine clearance: 24 mL/min (< 30) -> rules out: naproxen" in glance
    # start bone protection says what is left: no bone drug, the specialist alternative
    # start bone protection names what is still usable (denosumab, expert-supervised) …
    assert "do not wait for the pain to settle: denosumab (consider)" in glance
    # … or, when nothing is, what the avoided drugs name instead
    facts = json.loads((EXAMPLES / "renal-impairment.json").read_text())
    facts["conditions"] = ["cardiovascular_disease", "hypocalcaemia"]
    none_left = " ".join(to_text(plan(parse_facts(facts))).split("FULL PLAN", 1)[0].split())
    assert "no bone-protection medicine offered is usable — Ask an osteoporosis specialist" in (
        none_left
    )
    assert " 5. " in glance and " 6. " not in glance  # five next steps at most


def test_avoided_medicines_show_why_never_a_dose() -> None:
    p = _plan("renal-impairment.json")
    for render in (to_text(p), to_markdown(p)):
        for r in p.recommendations:
            if r.action in ("avoid", "contraindicated") and r.dose:
                assert r.dose not in render, r.id
        assert "why avoided:" in render.lower()


def test_no_constraints_from_rules_that_apply_to_everyone() -> None:
    # calcitonin is avoided for every patient: not a constraint of this patient
    from vertebra.render.glance import glance

    g = glance(_plan("stable-acute.json"))
    assert g.constraints == []
    allergy = glance(_plan("acute-l3-with-allergy.json"))
    assert [c.finding for c in allergy.constraints] == ["Allergies: naproxen"]


def test_timeline_is_readable_and_plurals_are_right() -> None:
    p = _plan("renal-impairment.json")
    text = to_text(p)
    timeline = text.split("TIMELINE", 1)[1].split("SOURCES", 1)[0]
    assert "follow-up-bmd-yearly" not in timeline
    assert "Monitor bone density yearly while on treatment" in timeline
    summaries = [_plan(f.name).summary for f in sorted(EXAMPLES.glob("*.json"))]
    assert any("; 1 fact to document" in x for x in summaries)
    assert not any("; 1 facts" in x or "; 1 recommendations" in x for x in summaries)
