"""A plan as Markdown (for notes, referral letters and the ``ask`` answers)."""

from __future__ import annotations

from vertebra.plan import Plan, Recommendation

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
    if rec.dose:
        extra.append(f"  - Dose: {rec.dose}")
    extra.extend(f"  - Caution: {c}" for c in rec.cautions)
    extra.append(f"  - Why: {'; '.join(rec.rationale)}")
    return "\n".join([f"- {line}", *extra])


def to_markdown(plan: Plan) -> str:
    notes = footnotes(plan)
    out = [
        "# Management plan — osteoporotic vertebral compression fracture",
        "",
        f"*{plan.summary}*",
        "",
        f"- Pathway: **{plan.pathway}** · Phase: **{plan.phase}** · "
        f"Knowledge base {plan.knowledge_version}",
    ]
    urgent = [r for r in plan.recommendations if r.urgency == "immediate"]
    if urgent:
        out += ["", "> **Immediate actions**"]
        out += [f"> - {r.title}" for r in urgent]
    for category, title in CATEGORY_TITLES.items():
        recs = [r for r in plan.recommendations if r.category == category]
        if not recs:
            continue
        out += ["", f"## {title}", ""]
        out += [recommendation_line(r, notes) for r in recs]
    if plan.conflicts:
        out += ["", "## Where the sources disagree", ""]
        for c in plan.conflicts:
            out += [f"### {c.topic}", "", c.summary, ""]
            out += [f"- {cite([p.source], notes)} {p.position}" for p in c.positions]
            out += ["", f"*vertebra follows:* {c.followed}", ""]
    if plan.missing_information:
        out += ["", "## Missing information", ""]
        out += [f"- **{m.field}** — {m.why}" for m in plan.missing_information]
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
