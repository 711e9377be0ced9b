"""A plan as plain terminal text: the plan at a glance first, then the full plan."""

from __future__ import annotations

import textwrap

from vertebra.knowledge import KnowledgeBase, load
from vertebra.plan import Plan
from vertebra.render.glance import glance, is_avoided
from vertebra.render.markdown import ACTION_WORDS, CATEGORY_TITLES, footnotes

WIDTH = 96


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    )


def glance_lines(plan: Plan, kb: KnowledgeBase) -> list[str]:
    """The at-a-glance box: immediate actions, safety constraints, next steps."""
    g = glance(plan, kb)
    out = ["AT A GLANCE", "=" * 11]
    if g.immediate:
        out.append("!!! IMMEDIATE ACTIONS")
        for r in g.immediate:
            out += _wrap(r.title, "!!! - ")
    if g.constraints:
        out.append("SAFETY CONSTRAINTS (medicines they rule out)")
        for c in g.constraints:
            out += _wrap(f"- {c.finding} -> rules out: {c.drugs}", "  ")
    if g.next_steps:
        out.append("NEXT STEPS")
        for i, s in enumerate(g.next_steps, start=1):
            urgency = f" ({s.rec.urgency})" if s.rec.urgency else ""
            out += _wrap(f"{i}. {s.text}{urgency}", "  ")
    return out


def to_text(plan: Plan, kb: KnowledgeBase | None = None) -> str:
    kb = kb or load()
    notes = footnotes(plan)
    titles = {r.id: r.title for r in plan.recommendations}
    out = [
        "VERTEBRA MANAGEMENT PLAN",
        f"Pathway: {kb.show('pathway', plan.pathway)}   Phase: {kb.show('phase', plan.phase)}"
        f"   Knowledge: {plan.knowledge_version}",
        *_wrap(plan.summary, ""),
        "",
        *glance_lines(plan, kb),
        "",
        "FULL PLAN",
        "=" * 9,
    ]
    for category, title in CATEGORY_TITLES.items():
        recs = [r for r in plan.recommendations if r.category == category]
        if not recs:
            continue
        out += ["", title.upper()]
        for r in recs:
            refs = ",".join(str(notes[c]) for c in r.citations if c in notes)
            urgency = f" ({r.urgency})" if r.urgency else ""
            out += _wrap(f"[{ACTION_WORDS[r.action]}] {r.title}{urgency} [{refs}]", "  ")
            if r.dose and not is_avoided(r):
                out += _wrap(f"dose: {r.dose}", "      ")
            if is_avoided(r):
                out += _wrap(f"why avoided: {'; '.join(r.rationale)}", "      ")
            for c in r.cautions:
                out += _wrap(f"caution: {c}", "      ")
            if not is_avoided(r):
                out += _wrap(f"why: {'; '.join(r.rationale)}", "      ")
    if plan.conflicts:
        out += ["", "WHERE THE SOURCES DISAGREE"]
        for conflict in plan.conflicts:
            out += _wrap(f"* {conflict.topic}: {conflict.summary}", "  ")
            for p in conflict.positions:
                out += _wrap(f"[{notes.get(p.source, '?')}] {p.position}", "      ")
            out += _wrap(f"vertebra follows: {conflict.followed}", "      ")
    if plan.missing_information:
        out += ["", "MISSING INFORMATION"]
        for m in plan.missing_information:
            out += _wrap(f"- {kb.label(m.field)} ({m.field}): {m.why}", "  ")
    if plan.timeline:
        out += ["", "TIMELINE"]
        for slot in plan.timeline:
            out.append(f"  {slot.when}:")
            for rec_id in slot.recommendations:
                out += _wrap(f"- {titles.get(rec_id, rec_id)}", "    ")
    out += ["", "SOURCES"]
    for s in plan.sources:
        url = f" {s.url}" if s.url else ""
        out += _wrap(f"[{notes[s.id]}] {s.title}. {s.organisation}, {s.year}.{url}", "  ")
    return "\n".join(out) + "\n"
