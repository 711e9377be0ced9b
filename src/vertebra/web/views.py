"""View models: the :class:`~vertebra.plan.Plan` arranged for the page.

Only presentation: grouping recommendations into the page's sections, footnote numbers, where a
timeline slot sits on the weeks axis, and words for vocabulary values. Every word of clinical
text comes from the plan or the knowledge base.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from vertebra.knowledge import KnowledgeBase
from vertebra.plan import Conflict, Plan, Recommendation, urgency_rank
from vertebra.render.glance import Glance, glance
from vertebra.render.markdown import CATEGORY_TITLES, footnotes

ACTION_LABELS = {
    "do": "Do",
    "consider": "Consider",
    "avoid": "Avoid",
    "contraindicated": "Contraindicated",
    # Drug-safety row actions (knowledge browser): they change how a drug is given.
    "adjust": "Adjust dose",
    "caution": "Caution",
}
_MAXIMUM = re.compile(r"(?:^|[;,]\s*)(maximum\s+.+)$", re.IGNORECASE)


def split_dose(dose: str | None) -> tuple[str | None, str | None]:
    """``"500 mg every 6 hours; maximum 4000 mg/day"`` → (dose, "maximum 4000 mg/day").

    Display only: the maximum the knowledge base wrote into the dose text gets its own column.
    """
    if not dose:
        return None, None
    match = _MAXIMUM.search(dose)
    if not match:
        return dose, None
    return dose[: match.start()].rstrip(" ;,") or dose, match.group(1)


@dataclass(frozen=True)
class Medicine:
    rec: Recommendation
    name: str
    dose: str | None
    maximum: str | None

    @property
    def avoided(self) -> bool:
        return self.rec.action in ("avoid", "contraindicated")


@dataclass(frozen=True)
class Tick:
    """A timeline slot on the weeks axis."""

    id: str
    when: str
    weeks: float | None
    position: float  # percent along the axis
    recommendations: list[Recommendation]
    row: int = 0  # label row: 0 above the axis, 1 below, 2 further above, 3 further below


@dataclass
class PlanView:
    plan: Plan
    notes: dict[str, int]
    immediate: list[Recommendation]
    referrals: list[Recommendation]
    assessment: list[Recommendation]
    investigations: list[Recommendation]
    medicines: list[Medicine]
    other_treatment: list[Recommendation]
    procedures: list[Recommendation]
    procedure_conflicts: list[Conflict]
    follow_up: list[Recommendation]
    education: list[Recommendation]
    other_conflicts: list[Conflict]
    timeline: list[Tick]
    missing: list[tuple[str, str, str]]  # field, label, why
    glance: Glance
    by_id: dict[str, Recommendation] = field(default_factory=dict)

    @property
    def category_titles(self) -> dict[str, str]:
        return CATEGORY_TITLES


def _axis_position(weeks: float | None, top: float) -> float:
    """Log scale from day 0 to the last slot, so 48 hours and 5 years both fit."""
    if weeks is None:
        return 100.0
    return round(100 * math.log1p(max(weeks, 0)) / math.log1p(top), 2) if top > 0 else 0.0


#: The narrowest the timeline axis is drawn (CSS ``.axis { min-width }``), and a generous width
#: of one character of a label in pixels: label rows are chosen so that no two labels overlap
#: at that width, and so at any wider one.
AXIS_MIN_PX = 560
LABEL_CHAR_PX = 7.2
LABEL_GAP_PX = 10
LABEL_ROWS = 4


def label_rows(ticks: list[tuple[str, float]]) -> list[int]:
    """A row for each (label, percent) so that labels in one row never overlap (greedy)."""
    ends: list[float] = [-1e9] * LABEL_ROWS  # right edge (px) of the last label in each row
    rows: list[int] = []
    for i, (label, percent) in enumerate(ticks):
        width = len(label) * LABEL_CHAR_PX
        x = percent / 100 * AXIS_MIN_PX
        if i == 0:
            left = x  # the first label starts at its tick (CSS: no centring)
        elif i == len(ticks) - 1:
            left = x - width  # the last ends at its tick
        else:
            left = x - width / 2
        row = next((r for r in range(LABEL_ROWS) if left >= ends[r] + LABEL_GAP_PX), None)
        if row is None:  # no free row: the one whose last label ends first
            row = min(range(LABEL_ROWS), key=lambda r: ends[r])
        ends[row] = left + width
        rows.append(row)
    return rows


def build(plan: Plan, kb: KnowledgeBase) -> PlanView:
    recs = plan.recommendations
    by_id = {r.id: r for r in recs}

    def of(*categories: str) -> list[Recommendation]:
        return [r for r in recs if r.category in categories]

    medicines = [
        Medicine(r, kb.drug_name(r.drug), *split_dose(r.dose)) for r in recs if r.drug is not None
    ]
    procedures = of("procedure")
    procedure_topics = {c for r in procedures for c in r.conflicts}
    conflicts_by_id = {c.id: c for c in plan.conflicts}
    top = max((s.weeks or 0 for s in plan.timeline), default=0.0)
    ticks = [
        Tick(
            id=s.id,
            when=s.when,
            weeks=s.weeks,
            position=_axis_position(s.weeks, top),
            recommendations=[by_id[i] for i in s.recommendations if i in by_id],
        )
        for s in plan.timeline
    ]
    rows = label_rows([(t.when, t.position) for t in ticks])
    ticks = [replace(t, row=r) for t, r in zip(ticks, rows, strict=True)]
    return PlanView(
        plan=plan,
        notes=footnotes(plan),
        immediate=[r for r in recs if r.urgency == "immediate"],
        referrals=sorted(of("referral"), key=lambda r: urgency_rank(r.urgency)),
        assessment=of("assessment"),
        investigations=of("imaging", "laboratory"),
        medicines=medicines,
        other_treatment=[r for r in of("analgesia", "bone_health", "mobilisation") if not r.drug],
        procedures=procedures,
        procedure_conflicts=[
            conflicts_by_id[t] for t in sorted(procedure_topics) if t in conflicts_by_id
        ],
        follow_up=of("follow_up"),
        education=of("education"),
        other_conflicts=[c for c in plan.conflicts if c.id not in procedure_topics],
        timeline=ticks,
        missing=[(m.field, kb.label(m.field), m.why) for m in plan.missing_information],
        glance=glance(plan, kb),
        by_id=by_id,
    )


def source_name(kb: KnowledgeBase, source_id: str) -> str:
    """A source as clinicians cite it: "organisation year" (e.g. "NASS 2025"), not its id."""
    for s in kb.sources:
        if s.id == source_id:
            return f"{s.organisation} {s.year}"
    return source_id


def words(kb: KnowledgeBase, value: str | None) -> str:
    """A vocabulary word (target, urgency, pathway, …) for clinicians."""
    if value is None:
        return ""
    return kb.show("", value)


def fact_lines(kb: KnowledgeBase, facts: dict[str, Any]) -> list[tuple[str, str]]:
    """The entered facts as (label, value in words), for letters and the printed plan."""
    return [(kb.label(n), kb.show(n, v)) for n, v in facts.items() if v is not None]


def cite_numbers(notes: dict[str, int], ids: Iterable[str]) -> list[tuple[int, str]]:
    return [(notes[i], i) for i in ids if i in notes]


@dataclass(frozen=True)
class TableView:
    id: str
    title: str
    trigger: str
    applies: str
    hit_policy: str
    file: str
    rows: list[Any]


def knowledge_tables(kb: KnowledgeBase) -> list[TableView]:
    """Every decision table with its applicability in words, for the knowledge browser."""
    from vertebra.knowledge.conditions import describe

    return [
        TableView(
            id=t.table.id,
            title=t.table.title,
            trigger=t.table.trigger,
            applies=describe(t.table.applies_when, kb.label, kb.show)
            if t.table.applies_when
            else "",
            hit_policy=t.table.hit_policy,
            file=t.file,
            rows=list(t.rows),
        )
        for t in kb.tables
    ]


def derived_cases(kb: KnowledgeBase) -> list[tuple[Any, list[tuple[str, str, str | None]]]]:
    """Derived facts (e.g. pathway, phase) with each case's condition in words."""
    from vertebra.knowledge.conditions import describe

    out: list[tuple[Any, list[tuple[str, str, str | None]]]] = []
    for d in kb.derived:
        cases = [
            (describe(c.when, kb.label, kb.show), kb.show("", c.value), c.why) for c in d.spec.cases
        ]
        out.append((d.spec, cases))
    return out


def matcher(query: str) -> Any:
    """Case-insensitive: every word of ``query`` must occur in the text."""
    words_ = [w for w in query.lower().split() if w]

    def match(text: str) -> bool:
        low = text.lower()
        return all(w in low for w in words_)

    return match


def row_text(kb: KnowledgeBase, r: Any) -> str:
    """Everything the knowledge browser shows of a decision-table row, for search."""
    then = r.row.then
    return " ".join(
        str(x)
        for x in (
            r.row.id,
            then.title,
            then.detail,
            r.text,
            r.row.annotation,
            then.dose,
            kb.drug_name(then.drug) if then.drug else "",
            " ".join(then.cautions),
            then.target or "",
            then.category,
        )
        if x
    )


def safety_text(kb: KnowledgeBase, s: Any) -> str:
    names = " ".join(kb.drug_name(d) for d in s.row.drugs)
    return f"{s.row.id} {names} {s.text} {s.row.reason} {s.row.alternative or ''}"
