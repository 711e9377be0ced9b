"""A plan as plain terminal text."""

from __future__ import annotations

import textwrap

from vertebra.plan import Plan
from vertebra.render.markdown import ACTION_WORDS, CATEGORY_TITLES, footnotes

WIDTH = 96


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def to_text(plan: Plan) -> str:
    notes = footnotes(plan)
    out = [
        "VERTEBRA MANAGEMENT PLAN",
        f"Pathway: {plan.pathway}   Phase: {plan.phase}   Knowledge: {plan.knowledge_version}",
        *_wrap(plan.summary, ""),
    ]
    urgent = [r for r in plan.recommendations if r.urgency == "immediate"]
    if urgent:
        out += ["", "!!! IMMEDIATE ACTIONS"]
        for r in urgent:
            out += _wrap(r.title, "!!! - ")
    for category, title in CATEGORY_TITLES.items():
        recs = [r for r in plan.recommendations if r.category == category]
        if not recs:
            continue
        out += ["", title.upper()]
        for r in recs:
            refs = ",".join(str(notes[c]) for c in r.citations if c in notes)
            urgency = f" ({r.urgency})" if r.urgency else ""
            out += _wrap(f"[{ACTION_WORDS[r.action]}] {r.title}{urgency} [{refs}]", "  ")
            if r.dose:
                out += _wrap(f"dose: {r.dose}", "      ")
            for c in r.cautions:
                out += _wrap(f"caution: {c}", "      ")
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
            out += _wrap(f"- {m.field}: {m.why}", "  ")
    if plan.timeline:
        out += ["", "TIMELINE"]
        for slot in plan.timeline:
            out += _wrap(f"{slot.when}: {', '.join(slot.recommendations)}", "  ")
    out += ["", "SOURCES"]
    for s in plan.sources:
        url = f" {s.url}" if s.url else ""
        out += _wrap(f"[{notes[s.id]}] {s.title}. {s.organisation}, {s.year}.{url}", "  ")
    return "\n".join(out) + "\n"
