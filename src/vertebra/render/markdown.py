"""A plan as Markdown (for notes, referral letters and the ``ask`` answers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vertebra.plan import Plan, Recommendation

if TYPE_CHECKING:
    from vertebra.knowledge import KnowledgeBase

CATEGORY_TITLES = {
    "assessment": "Assessment",
    "referral": "Referrals",
    "imaging": "Imaging",
    "laboratory": "Laboratory work-up",
    "analgesia": "Analgesia",
    "mobilisation": "Mobilisation",
    "bone_health": "Bone protection",
    "procedure": "Procedures",
    "follow_up": "Follow-up",
    "education": "Education and pitfalls",
}
ACTION_WORDS = {
    "do": "DO",
    "consider": "CONSIDER",
    "avoid": "AVOID",
    "contraindicated": "CONTRAINDICATED",
}


def footnotes(plan: Plan) -> dict[str, int]:
    """Source id -> footnote number, in the plan's source order."""
    return {s.id: i for i, s in enumerate(plan.sources, start=1)}


def cite(ids: list[str], notes: dict[str, int]) -> str:
    return "".join(f"[^{notes[i]}]" for i in ids if i in notes)


def recommendation_line(rec: Recommendation, notes: dict[str, int]) -> str:
    bits = [f"**{ACTION_WORDS[rec.action]}** {rec.title}"]
    if rec.urgency:
        bits.append(f"*({rec.urgency})*")
    line = " ".join(bits) + " " + cite(rec.citations, notes)
    extra: list[str] = []
    avoided = rec.action in ("avoid", "contraindicated")
    if rec.dose and not avoided:  # never a dose to give for an avoided medicine
        extra.append(f"  - Dose: {rec.dose}")
    if avoided:
        extra.append(f"  - Why avoided: {'; '.join(rec.rationale)}")
    extra.extend(f"  - Caution: {c}" for c in rec.cautions)
    if not avoided:
        extra.append(f"  - Why: {'; '.join(rec.rationale)}")
    return "\n".join([f"- {line}", *extra])


def glance_markdown(plan: Plan, kb: KnowledgeBase) -> list[str]:
    """The plan at a glance as a Markdown block quote."""
    from vertebra.render.glance import glance

    g = glance(plan, kb)
    out = ["## At a glance", ""]
    if g.immediate:
        out += ["> **Immediate actions**", ">"]
        out += [f"> - {r.title}" for r in g.immediate]
        out.append("")
    if g.constraints:
        out += ["**Safety constraints** (and the medicines they rule out)", ""]
        out += [f"- {c.finding} — rules out: {c.drugs}" for c in g.constraints]
        out.append("")
    if g.next_steps:
        out += ["**Next steps**", ""]
        out += [
            f"{i}. {s.text}" + (f" *({s.rec.urgency})*" if s.rec.urgency else "")
            for i, s in enumerate(g.next_steps, start=1)
        ]
    return out


def to_markdown(plan: Plan, kb: KnowledgeBase | None = None) -> str:
    from vertebra.knowledge import load

    kb = kb or load()
    notes = footnotes(plan)
    out = [
        "# Management plan — osteoporotic vertebral compression fracture",
        "",
        f"*{plan.summary}*",
        "",
        f"- Pathway: **{kb.show('pathway', plan.pathway)}** · "
        f"Phase: **{kb.show('phase', plan.phase)}** · Knowledge base {plan.knowledge_version}",
        "",
        *glance_markdown(plan, kb),
        "",
        "## Full plan",
    ]
    for category, title in CATEGORY_TITLES.items():
        recs = [r for r in plan.recommendations if r.category == category]
        if not recs:
            continue
        out += ["", f"### {title}", ""]
        out += [recommendation_line(r, notes) for r in recs]
    if plan.conflicts:
        out += ["", "## Where the sources disagree", ""]
        for c in plan.conflicts:
            out += [f"### {c.topic}", "", c.summary, ""]
            out += [f"- {cite([p.source], notes)} {p.position}" for p in c.positions]
            out += ["", f"*vertebra follows:* {c.followed}", ""]
    if plan.missing_information:
        out += ["", "## Missing information", ""]
        out += [f"- **{kb.label(m.field)}** — {m.why}" for m in plan.missing_information]
    if plan.timeline:
        out += ["", "## Timeline", ""]
        titles = {r.id: r.title for r in plan.recommendations}
        for slot in plan.timeline:
            out.append(f"- **{slot.when}**: " + "; ".join(titles[i] for i in slot.recommendations))
    out += ["", "## Sources", ""]
    for s in plan.sources:
        link = f" <{s.url}>" if s.url else ""
        out.append(f"[^{notes[s.id]}]: {s.title}. {s.organisation}, {s.year}.{link}")
    return "\n".join(out) + "\n"
