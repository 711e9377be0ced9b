"""Answer a clinician's question from the knowledge base, with numbered citations.

A question about a patient is read into partial patient facts (stated assumptions for the
required ones), the plan engine runs, and the answer is the part of the plan the question asks
about, with what depends on facts not given. A question about a fact is answered by retrieval
over the knowledge base's statements. Anything else is reported as not covered, with the nearest
topics. Every clinical sentence is a knowledge-base text carrying its sources.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from vertebra import intake
from vertebra.ask.extract import Extracted, extract
from vertebra.ask.index import Index, Statement, index
from vertebra.ask.lexicon import Budget, Intent, Layout, intents, lexicon
from vertebra.ask.model import MAX_QUESTION_CHARS, Answer, AskError, AskFacts, Match, Mode
from vertebra.ask.text import content_words
from vertebra.engine import context
from vertebra.engine import plan as make_plan
from vertebra.facts import FactsError, PatientFacts
from vertebra.knowledge import CompiledRow, KnowledgeBase
from vertebra.language import find as find_concepts
from vertebra.plan import Plan, Recommendation, is_urgent, urgency_rank
from vertebra.render.markdown import ACTION_WORDS, CATEGORY_TITLES

ASSUMED_AGE = 70
ASSUMED_SEX = "female"
_PENDING = "Not yet confirmed"  # the engine's caution for a safety fact not yet known


def _phrase(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(text.lower()) + r"(?![a-z0-9])")


@dataclass(frozen=True)
class _Matchers:
    sites: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    dose_cues: tuple[re.Pattern[str], ...]
    vertebral: tuple[re.Pattern[str], ...]
    anchors: tuple[re.Pattern[str], ...]
    off_topic: tuple[re.Pattern[str], ...]
    cues: tuple[re.Pattern[str], ...]
    intents: tuple[tuple[Intent, tuple[re.Pattern[str], ...]], ...]


@cache
def _matchers() -> _Matchers:
    lex = lexicon()
    return _Matchers(
        sites=tuple((k, tuple(_phrase(p) for p in v)) for k, v in lex.other_sites.items()),
        vertebral=tuple(_phrase(p) for p in lex.vertebral_words),
        dose_cues=tuple(_phrase(p) for p in lex.dose_cues),
        anchors=tuple(_phrase(p) for p in lex.spine_anchors),
        off_topic=tuple(_phrase(p) for p in lex.off_topic),
        cues=tuple(_phrase(p) for p in lex.fact_cues),
        intents=tuple((i, tuple(_phrase(p) for p in i.phrases)) for i in intents().intents),
    )


def validate_question(question: Any) -> str:
    """The question, trimmed; :class:`AskError` naming ``question`` when it is unusable."""
    if not isinstance(question, str):
        raise AskError("must be a string", "string_type")
    text = unicodedata.normalize("NFC", question).strip()
    if not text:
        raise AskError("must not be empty", "string_too_short")
    if len(text) > MAX_QUESTION_CHARS:
        raise AskError(
            f"is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})", "string_too_long"
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise AskError("must not contain control characters", "value_error")
    return " ".join(text.split())


# --------------------------------------------------------------------------- citations


class _Notes:
    """Footnote numbers in order of first use."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}

    def cite(self, ids: list[str] | tuple[str, ...]) -> str:
        out = []
        for i in dict.fromkeys(ids):
            if i not in self.order:
                self.order[i] = len(self.order) + 1
            out.append(f"[^{self.order[i]}]")
        return "".join(out)

    def references(self, kb: KnowledgeBase, heading: str) -> list[str]:
        if not self.order:
            return []
        by_id = {s.id: s for s in kb.sources}
        lines = ["", f"## {heading}", ""]
        for sid, n in self.order.items():
            s = by_id.get(sid)
            if s is None:
                lines.append(f"[^{n}]: {sid}")
                continue
            link = f" <{s.url}>" if s.url else ""
            lines.append(f"[^{n}]: {_sentence(s.title)} {s.organisation}, {s.year}.{link}")
        return lines


def _lower_first(text: str) -> str:
    """Lower-case a leading capital unless it starts an acronym (MRI, NSAID)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!", ")")) else text + "."


# --------------------------------------------------------------------------- intent


@lru_cache(maxsize=256)
def _topics(low: str) -> list[tuple[Intent, int]]:
    """Every intent the question asks about, in the order it asks, with its score."""
    found: list[tuple[int, Intent, int]] = []
    for intent, patterns in _matchers().intents:
        hits = [m.start() for p in patterns if (m := p.search(low))]
        if hits:
            found.append((min(hits), intent, len(hits)))
    found.sort(key=lambda t: t[0])
    return [(i, n) for _, i, n in found]


def _intent(question: str, ex: Extracted) -> tuple[Intent, list[str], int]:
    low = question.lower()
    best: Intent | None = None
    best_score = 0
    for intent, score in _topics(low):
        if score > best_score:
            best, best_score = intent, score
    by_id = {i.id: i for i in intents().intents}
    topic = [
        d
        for d in ex.drugs
        if d != ex.values.get("osteoporosis_drug")
        and d not in (ex.values.get("allergies") or [])
        and d not in ex.background_drugs
    ]
    if topic and (best is None or best.id in ("treatment", "analgesia", "bone_health")):
        return by_id["drug"], topic, best_score
    return best or by_id["treatment"], topic, best_score


# --------------------------------------------------------------------------- facts


@dataclass
class _PatientRun:
    facts: PatientFacts
    plan: Plan
    ctx: dict[str, Any]
    assumed: dict[str, Any]
    assumptions: list[str]
    age_only: list[tuple[int, Recommendation]] = field(default_factory=list)
    """Recommendations that hold at one end of an age range only: (age, recommendation)."""
    ranges: dict[str, list[int]] = field(default_factory=dict)


ADULT_AGES = (18, 120)


def _patient(ex: Extracted, layout: Layout, kb: KnowledgeBase) -> _PatientRun:
    values = dict(ex.values)
    assumed: dict[str, Any] = {}
    assumptions: list[str] = []
    age_range: tuple[int, int] | None = None
    if "age" not in values and ex.age_range is not None:
        low, high = max(ex.age_range[0], ADULT_AGES[0]), min(ex.age_range[1], ADULT_AGES[1])
        age_range = (low, high)
        values["age"] = low
        assumptions.append(
            layout.age_range.format(low=low, high=high, text=ex.evidence.get("age", ""))
        )
    elif "age" not in values and "age" in ex.unreadable:
        age_range = ADULT_AGES
        values["age"] = ADULT_AGES[0]
        assumptions.append(
            layout.age_unreadable.format(
                text=ex.unreadable["age"], low=ADULT_AGES[0], high=ADULT_AGES[1]
            )
        )
    for name, words in ex.unreadable.items():
        if name != "age":
            assumptions.append(layout.could_not_read.format(label=kb.label(name), text=words))
    if "age" not in values and "sex" not in values:
        assumed.update(age=ASSUMED_AGE, sex=ASSUMED_SEX)
        assumptions.append(layout.assumed_patient)
    elif "age" not in values:
        assumed["age"] = ASSUMED_AGE
        assumptions.append(layout.assumed_age)
    elif "sex" not in values:
        assumed["sex"] = ASSUMED_SEX
        assumptions.append(layout.assumed_sex)
    if "conditions" in values:
        assumptions.append(layout.assumed_conditions)
    if ex.egfr and "creatinine_clearance" not in values and "egfr" in values:
        assumed["creatinine_clearance"] = values["egfr"]
        assumptions.append(layout.egfr_as_crcl)
    # The fracture level may be unknown in a question, as in a record (the plan asks for it).
    if "fracture_levels" not in values:
        assumptions.append(layout.no_level)
    data = {**values, **assumed}
    try:
        facts = intake.from_record(data)
    except FactsError as exc:  # drop every extracted value that cannot be a fact, once
        bad = {e["field"].split("[", 1)[0].split(".", 1)[0] for e in exc.errors}
        bad -= {"age", "sex", "fracture_levels"}
        if not bad:
            raise
        for name in bad:
            data.pop(name, None)
            values.pop(name, None)
            ex.values.pop(name, None)
        facts = intake.from_record(data)
    plan = make_plan(facts, kb)
    run = _PatientRun(facts, plan, context(facts, kb), assumed, assumptions)
    if age_range is not None:
        run.ranges["age"] = list(age_range)
        other = make_plan(facts.model_copy(update={"age": age_range[1]}), kb)
        low_ids = {r.id for r in plan.recommendations}
        high_ids = {r.id for r in other.recommendations}
        run.age_only = [(age_range[0], r) for r in plan.recommendations if r.id not in high_ids]
        run.age_only += [(age_range[1], r) for r in other.recommendations if r.id not in low_ids]
    return run


# --------------------------------------------------------------------------- rendering


def _rec_lines(
    rec: Recommendation,
    notes: _Notes,
    layout: Layout,
    detail: bool,
    said: dict[str, str] | None = None,
    kb: KnowledgeBase | None = None,
) -> list[str]:
    """A recommendation's lines. ``said`` maps each caution already written in this answer to
    whose it was: a caution repeated word for word (the NSAID cautions under naproxen and
    diclofenac) is collapsed into one pointer to where it stands."""
    head = f"**{ACTION_WORDS[rec.action]}** {rec.title}"
    if rec.urgency:
        head += f" *({rec.urgency})*"
    lines = [f"- {head} {notes.cite(rec.citations)}"]
    if detail:
        lines.append(f"  - {rec.detail.strip()} {notes.cite(rec.citations)}")
    if rec.dose:
        lines.append(f"  - {layout.dose_prefix} {rec.dose} {notes.cite(rec.citations)}")
    if detail:
        # only a drug's cautions are collapsed, into another drug's; the engine's short
        # "Not yet confirmed" note is the recommendation's own and always stays
        owner = kb.drug_name(rec.drug) if kb is not None and rec.drug else None
        repeated: dict[str, None] = {}
        for c in rec.cautions:
            own = owner is None or said is None or c.startswith(_PENDING)
            if not own and said is not None and c in said:
                repeated[said[c]] = None
                continue
            lines.append(f"  - {layout.caution_prefix} {c}")
            if not own and said is not None and owner is not None:
                said[c] = owner
        lines += [
            f"  - {layout.caution_prefix} {layout.cautions_as_above.format(where=where)}"
            for where in repeated
        ]
    return lines


def _conditional_lines(
    row: CompiledRow, notes: _Notes, layout: Layout, detail: bool = False
) -> list[str]:
    then = row.row.then
    head = f"{layout.conditional_prefix} {_lower_first(row.text)}: "
    head += f"**{ACTION_WORDS[then.action]}** {then.title}"
    if then.urgency:
        head += f" *({then.urgency})*"
    cites = notes.cite(row.row.references)
    lines = [f"- {head} {cites}"]
    if detail:
        lines.append(f"  - {then.detail.strip()} {cites}")
    if then.dose:
        lines.append(f"  - {layout.dose_prefix} {then.dose} {cites}")
    return lines


def _statement_line(s: Statement, kb: KnowledgeBase, notes: _Notes) -> str:
    cites = notes.cite(s.citations)
    if s.kind == "row":
        return f"**{s.title}** — {_sentence(s.text)} {cites}"
    if s.kind == "safety":
        extra = f" {s.cautions[0]}" if s.cautions else ""
        return f"{_sentence(s.text)}{extra} {cites}"
    if s.kind == "position":
        return f"{s.title}: {_sentence(s.text)} {cites}"
    if s.kind == "conflict":
        return f"**{s.title}** — {_sentence(s.text)} {cites}"
    return f"**{s.title}** — {_sentence(s.text)} {cites}"


def _conflict_lines(cid: str, kb: KnowledgeBase, notes: _Notes, layout: Layout) -> list[str]:
    c = kb.conflicts[cid]
    lines = [
        f"### {c.topic}",
        "",
        f"{c.summary.strip()} {notes.cite([p.source for p in c.positions])}",
        "",
    ]
    lines += [f"- {notes.cite([p.source])} {p.position}" for p in c.positions]
    lines += ["", f"*{layout.followed_prefix}* {c.followed.strip()}", ""]
    return lines


def _show_fact(kb: KnowledgeBase, name: str, value: Any) -> str:
    return f"{kb.label(name)}: {kb.show(name, value)}"


# --------------------------------------------------------------------------- patient answers


@dataclass
class _Compose:
    kb: KnowledgeBase
    layout: Layout
    notes: _Notes = field(default_factory=_Notes)
    lines: list[str] = field(default_factory=list)
    said: dict[str, str] = field(default_factory=dict)
    """Cautions already written, and whose they were."""


def _patient_answer(
    question: str,
    intent: Intent,
    topic_drugs: list[str],
    ex: Extracted,
    run: _PatientRun,
    matches: list[tuple[Statement, float]],
    kb: KnowledgeBase,
    layout: Layout,
) -> tuple[str, list[str]]:
    c = _Compose(kb, layout)
    plan = run.plan
    recs = plan.recommendations
    fired = {r.id for r in recs}

    def in_focus(category: str, drug: str | None) -> bool:
        if intent.id == "drug":
            return drug in topic_drugs
        return category in intent.focus

    focus = [r for r in recs if in_focus(r.category, r.drug)]
    supporting = [
        r for r in recs if not in_focus(r.category, r.drug) and r.category in intent.supporting
    ]
    urgent_other = [
        r for r in recs if r.urgency == "immediate" and r not in focus and r not in supporting
    ]

    conditional: list[CompiledRow] = []
    unknown_facts: dict[str, None] = {}
    for table in kb.tables:
        if table.applies(run.ctx).value is not True:
            continue
        for row in table.rows:
            if row.row.id in fired:
                continue
            then = row.row.then
            wanted = in_focus(then.category, then.drug) or is_urgent(then.urgency)
            if not wanted:
                continue
            res = row.when(run.ctx)
            if res.value is None:
                conditional.append(row)
                unknown_facts.update(dict.fromkeys(sorted(res.unknown)))
    conditional.sort(key=lambda r: urgency_rank(r.row.then.urgency))

    # The direct answer: immediate actions first, then what the question's own facts decided,
    # then the best item for every topic asked, then (if nothing immediate applies) the most
    # urgent branch that depends on a fact not given. 3-6 sentences.
    budget = intents().budget
    lead = _lead(question, intent, topic_drugs, ex, run, focus, kb, budget)
    # a named drug's safety rows: decided by the question's facts -> stated; unknown -> "If"
    safety_true: list[Any] = []
    safety_unknown: list[Any] = []
    for d in topic_drugs if intent.id == "drug" else []:
        for srow in kb.safety_for(d):
            value = srow.when(run.ctx).value
            if value is True and srow not in safety_true:
                safety_true.append(srow)
            elif value is None and srow not in safety_unknown:
                safety_unknown.append(srow)
    urgent_lead = [r for r in lead if r.urgency == "immediate"]
    sentences = [f"{_sentence(r.title)}{c.notes.cite(r.citations)}" for r in urgent_lead]
    for srow in safety_true[:2]:
        alt = f" {_sentence(srow.row.alternative)}" if srow.row.alternative else ""
        sentences.append(f"{_sentence(srow.row.reason)}{alt}{c.notes.cite(srow.row.references)}")
    sentences += [
        f"{_sentence(r.title)}{c.notes.cite(r.citations)}" for r in lead if r not in urgent_lead
    ]
    sentences = sentences[: budget.max_sentences]
    if len(sentences) < budget.max_sentences and not any(r.urgency == "immediate" for r in recs):
        for row in [r for r in conditional if r.row.then.urgency == "immediate"][:1]:
            cond = _lower_first(row.text)
            sentences.append(
                f"{layout.conditional_prefix} {cond}: {_sentence(row.row.then.title)}"
                f"{c.notes.cite(row.row.references)}"
            )
    if not sentences:
        sentences = [f"{_sentence(plan.summary)}"]
    out = [f"# {question}", "", f"**{layout.answer_heading}.** " + " ".join(sentences)]

    if run.assumptions:
        out += ["", f"> **{layout.assumptions_heading}:** " + " ".join(run.assumptions)]
    if ex.values or run.assumed:
        out += ["", f"## {layout.facts_heading}", ""]
        for name, value in ex.values.items():
            out.append(f"- {_show_fact(kb, name, value)} (“{ex.evidence.get(name, '')}”)")
        for name, value in run.assumed.items():
            out.append(f"- {_show_fact(kb, name, value)} (assumed)")

    shown: set[str] = set()
    if intent.id == "drug":
        names = ", ".join(kb.drug_name(d) for d in topic_drugs)
        out += ["", f"## {names}", ""]
        for r in focus:
            out += _rec_lines(r, c.notes, layout, True, c.said, kb)
            shown.add(r.id)
        unknown_ids = {srow.row.id for srow in safety_unknown}
        for s in index().statements:
            if s.kind == "safety" and s.id in unknown_ids:
                out.append(
                    f"- {layout.conditional_prefix} {_lower_first(s.condition or '')}: "
                    f"{_statement_line(s, kb, c.notes)}"
                )
    else:
        for category in intent.focus:
            group = [r for r in focus if r.category == category]
            if not group:
                continue
            out += ["", f"## {CATEGORY_TITLES[category]}", ""]
            for r in group:
                out += _rec_lines(r, c.notes, layout, True, c.said, kb)
                shown.add(r.id)
    if run.age_only:
        out += ["", f"## {layout.age_heading}", ""]
        for age, r in run.age_only:
            out.append(
                f"- {layout.age_only_at.format(age=age)} **{ACTION_WORDS[r.action]}** {r.title} "
                f"{c.notes.cite(r.citations)}"
            )
    conditional = conditional[: budget.max_conditional]
    if conditional:
        out += ["", f"## {layout.conditional_heading}", ""]
        for row in conditional:
            then = row.row.then
            out += _conditional_lines(row, c.notes, layout, in_focus(then.category, then.drug))
    if urgent_other:
        out += ["", f"## {CATEGORY_TITLES['referral']}", ""]
        for r in urgent_other:
            out += _rec_lines(r, c.notes, layout, True, c.said, kb)
            shown.add(r.id)
    for category in intent.supporting:
        group = [r for r in supporting if r.category == category and r.id not in shown]
        group = group[: budget.max_supporting]
        if not group:
            continue
        out += ["", f"## {CATEGORY_TITLES[category]}", ""]
        for r in group:
            out += _rec_lines(r, c.notes, layout, detail=False)
            shown.add(r.id)

    # Only the disagreements about what the question asks (its focus items, shown in full, and
    # the in-focus branches): a blood-test question does not get the vertebroplasty debate.
    on_topic = [r for r in focus if r.id in shown]
    on_topic_rows = [
        row for row in conditional if in_focus(row.row.then.category, row.row.then.drug)
    ]
    conflict_ids = [
        cid
        for cid in kb.conflicts
        if any(cid in r.conflicts for r in on_topic)
        or any(cid in row.row.then.conflicts for row in on_topic_rows)
    ]
    if conflict_ids:
        out += ["", f"## {layout.disagree_heading}", ""]
        for cid in conflict_ids[: budget.max_conflicts]:
            out += _conflict_lines(cid, kb, c.notes, layout)

    # What we'd need to know: the facts the branches shown depend on, and those the tables of
    # the question's own items ask for (not those of the one-line supporting items).
    shown_tables = {r.table for r in on_topic} | {row.table_id for row in conditional}
    missing = [
        m
        for m in plan.missing_information
        if m.field in unknown_facts or set(m.tables) & shown_tables
    ]
    if missing:
        out += ["", f"## {layout.missing_heading}", ""]
        out += [f"- **{kb.label(m.field)}** — {m.why}" for m in missing]

    pitfalls = [
        r
        for r in recs
        if r.id not in shown
        and (r.action in ("avoid", "contraindicated") or r.category == "education")
    ]
    pitfalls = pitfalls[: budget.max_pitfalls]
    if pitfalls:
        out += ["", f"## {layout.pitfalls_heading}", ""]
        for r in pitfalls:
            out.append(f"- **{ACTION_WORDS[r.action]}** {r.title} {c.notes.cite(r.citations)}")
            if r.category == "education":
                out.append(f"  - {r.detail.strip()} {c.notes.cite(r.citations)}")

    shown_rows = shown | {row.row.id for row in conditional} | {p.id for p in pitfalls}
    related = [(s, sc) for s, sc in matches if (s.row_id or s.id) not in shown_rows]
    related = [(s, sc) for s, sc in related if s.kind in ("row", "safety")]
    # a retrieved statement whose condition is false for this patient contradicts the plan
    rows = {row.row.id: row for table in kb.tables for row in table.rows}
    related = [
        (s, sc)
        for s, sc in related
        if s.row_id not in rows or rows[s.row_id].when(run.ctx).value is not False
    ][: budget.max_related]
    if related:
        out += ["", f"## {layout.related_heading}", ""]
        out += [f"- {_statement_line(s, kb, c.notes)}" for s, _ in related]

    out += c.notes.references(kb, layout.references_heading)
    return "\n".join(out) + "\n", list(c.notes.order)


_ACTION_RANK = {"do": 0, "consider": 1, "avoid": 2, "contraindicated": 2}


def _decided(rec: Recommendation, stated: set[str]) -> bool:
    """Whether a fact the question stated decided this recommendation (its rationale names it)."""
    return any(r.split(":", 1)[0] in stated for r in rec.rationale)


def _lead(
    question: str,
    intent: Intent,
    topic_drugs: list[str],
    ex: Extracted,
    run: _PatientRun,
    focus: list[Recommendation],
    kb: KnowledgeBase,
    budget: Budget,
) -> list[Recommendation]:
    recs = run.plan.recommendations
    background = set(ex.background_drugs)
    chosen: list[Recommendation] = []

    def add(r: Recommendation) -> None:
        if r not in chosen and len(chosen) < budget.max_sentences:
            chosen.append(r)

    def rank(rs: list[Recommendation]) -> list[Recommendation]:
        order = {r.id: i for i, r in enumerate(recs)}
        return sorted(rs, key=lambda r: (_ACTION_RANK.get(r.action, 3), order[r.id]))

    def usable(r: Recommendation) -> bool:
        return r.drug is None or r.drug not in background or r.action != "do"

    for r in rank([r for r in recs if r.urgency == "immediate"])[:2]:
        add(r)
    topics = [i for i, _ in _topics(question.lower()) if i.id not in ("treatment", "drug")]
    if intent.id == "drug":
        for r in rank([r for r in focus if r.drug in topic_drugs]):
            add(r)
    categories: list[str] = []
    for t in topics or ([intent] if intent.id != "drug" else []):
        categories += [c for c in t.focus if c not in categories]
    if not categories and intent.id == "drug":
        categories = []
    stated = {kb.label(name) for name in ex.values}
    wanted = set(categories) | set(intent.supporting)
    decided = [r for r in recs if _decided(r, stated) and r.category in wanted and usable(r)]
    for r in rank([r for r in decided if r.action != "avoid"])[:2]:
        add(r)
    for category in categories:
        group = rank([r for r in recs if r.category == category and usable(r)])
        if group:
            add(group[0])
    if len(chosen) < budget.min_sentences:
        for r in rank([r for r in focus if usable(r)]):
            if len(chosen) >= budget.min_sentences:
                break
            add(r)
    return chosen


# --------------------------------------------------------------------------- fact answers


def _fact_answer(
    question: str,
    matches: list[tuple[Statement, float]],
    kb: KnowledgeBase,
    layout: Layout,
    drugs: list[str] | None = None,
) -> tuple[str, list[str]]:
    notes = _Notes()
    top = matches[0][0]
    if any(p.search(question.lower()) for p in _matchers().dose_cues):
        named = [s for s, _ in matches if s.dose and (not drugs or set(s.drugs) & set(drugs))]
        top = named[0] if named else top
    leads = [top]
    for drug in drugs or []:  # "calcium and vit D doses": one statement for each drug asked
        if any(drug in s.drugs for s in leads):
            continue
        hit = next((s for s, _ in matches if drug in s.drugs), None)
        if hit is None:
            hit = next((s for s in index().statements if drug in s.drugs and s.dose), None)
        if hit is not None and len(leads) < intents().budget.max_sentences:
            leads.append(hit)
    para = []
    for s in leads:
        para.append(_statement_line(s, kb, notes))
        if s.kind == "row" and s.dose:
            para.append(f"{layout.dose_prefix} {s.dose} {notes.cite(s.citations)}")
    out = [f"# {question}", "", f"**{layout.answer_heading}.** " + " ".join(para)]
    rest = [(s, sc) for s, sc in matches if s not in leads]
    if rest:
        out += ["", f"## {layout.statements_heading}", ""]
        for s, _ in rest:
            out.append(f"- {_statement_line(s, kb, notes)}")
            if s.kind == "row" and s.dose:
                out.append(f"  - {layout.dose_prefix} {s.dose} {notes.cite(s.citations)}")
    conflict_ids = list(dict.fromkeys(cid for s, _ in matches for cid in s.conflicts))
    if conflict_ids:
        out += ["", f"## {layout.disagree_heading}", ""]
        for cid in conflict_ids[:3]:
            out += _conflict_lines(cid, kb, notes, layout)
    cautions = [(s, c) for s, _ in matches if s.kind == "row" for c in s.cautions]
    avoid = [s for s, _ in matches if s.action in ("avoid", "contraindicated") and s is not top]
    if cautions or avoid:
        out += ["", f"## {layout.pitfalls_heading}", ""]
        out += [f"- {c} {notes.cite(s.citations)}" for s, c in cautions]
        out += [
            f"- **{ACTION_WORDS[s.action or 'avoid']}** {s.title} {notes.cite(s.citations)}"
            for s in avoid
        ]
    out += notes.references(kb, layout.references_heading)
    return "\n".join(out) + "\n", list(notes.order)


def _not_covered(
    question: str, matches: list[tuple[Statement, float]], kb: KnowledgeBase, layout: Layout
) -> tuple[str, list[str]]:
    notes = _Notes()
    out = [f"# {question}", "", f"**{layout.answer_heading}.** {layout.not_covered}"]
    fallback = intents().rows.nearest_fallback
    nearest = [s for s, _ in matches][:3] or [s for s in index().statements if s.id in fallback]
    out += ["", f"## {layout.nearest_heading}", ""]
    out += [f"- {s.title} {notes.cite(s.citations)}" for s in nearest]
    out += notes.references(kb, layout.references_heading)
    return "\n".join(out) + "\n", list(notes.order)


# --------------------------------------------------------------------------- entry point


def _matches(
    ix: Index, question: str, drugs: list[str], k: int = 6
) -> list[tuple[Statement, float]]:
    found = ix.search(question, k=24)
    if drugs:
        found = [(s, sc * (1.5 if set(s.drugs) & set(drugs) else 1.0)) for s, sc in found]
        found.sort(key=lambda p: -p[1])
    if not found:
        return []
    floor = max(lexicon().min_score, 0.45 * found[0][1])
    return [(s, sc) for s, sc in found if sc >= floor][:k]


def _declined(ex: Extracted, low: str, kb: KnowledgeBase, layout: Layout) -> list[str] | None:
    """Why the question is outside the tool's scope (the answer's opening lines), or ``None``."""
    m = _matchers()
    age = ex.values.get("age")
    if (isinstance(age, int) and age < 18) or (ex.age_range is not None and ex.age_range[1] < 18):
        return [layout.declined_child]
    if ex.values.get("mechanism") == "high_energy":
        rows = {row.row.id: row for table in kb.tables for row in table.rows}
        row = rows.get(intents().rows.high_energy_scope)
        return [layout.declined_trauma] + ([f"{_sentence(row.row.then.title)}"] if row else [])
    levels = bool(ex.values.get("fracture_levels"))
    site = next((k for k, ps in m.sites if any(p.search(low) for p in ps)), None)
    vertebral = levels or any(p.search(low) for p in m.vertebral)
    if site is None and vertebral:
        return None  # the common case: no medspaCy pass needed
    found = [f for f in find_concepts(low) if f.label in ("fracture", "vertebral_fracture")]
    if site is not None and not (levels and found):
        return [layout.declined_site.format(site=site)]
    if not vertebral:
        if ex.other_levels:
            return [layout.declined_site.format(site="the cervical spine")]
        if found and all(f.negated for f in found):
            return [layout.declined_no_fracture]
    return None


def _declined_answer(
    question: str,
    reason: list[str],
    matches: list[tuple[Statement, float]],
    kb: KnowledgeBase,
    layout: Layout,
) -> tuple[str, list[str]]:
    notes = _Notes()
    text = reason[0]
    if len(reason) > 1:
        row_cites = next(
            (
                row.row.references
                for t in kb.tables
                for row in t.rows
                if row.row.id == intents().rows.high_energy_scope
            ),
            [],
        )
        text += f" {reason[1]}{notes.cite(row_cites)}"
    # no "nearest topics": for a child, an injury or another site they would be adult
    # osteoporosis treatments, which is what the decline is about
    out = [f"# {question}", "", f"**{layout.answer_heading}.** {text} {layout.not_covered}"]
    out += notes.references(kb, layout.references_heading)
    return "\n".join(out) + "\n", list(notes.order)


def answer_at(question: str, today: dt.date) -> Answer:
    """:func:`answer` with relative dates ("last Tuesday") counted back from ``today``."""
    return answer(question, today=today)


def answer(question: str, today: dt.date | None = None) -> Answer:
    """Answer ``question`` from the knowledge base (see the module docstring)."""
    text = validate_question(question)
    ix = index()
    kb = ix.kb
    lex = lexicon()
    layout = intents().layout
    m = _matchers()
    ex = extract(text, today)
    low = ex.reading.text if ex.reading is not None else text.lower()
    intent, topic_drugs, intent_score = _intent(low, ex)
    matches = _matches(ix, low, topic_drugs or ex.drugs)

    anchored = bool(ex.values.get("fracture_levels")) or any(p.search(low) for p in m.anchors)
    off_topic = any(p.search(low) for p in m.off_topic)
    words = content_words(low)
    unknown = [w for w in words if w not in ix.known]
    share = len(unknown) / len(words) if words else 1.0
    intent_hit = intent_score > 0
    cue = any(p.search(low) for p in m.cues)
    declined = _declined(ex, low, kb, layout)

    mode: Mode
    if declined is not None or (off_topic and not anchored):
        mode = "not_covered"
    elif ex.describes_patient and (anchored or share <= lex.max_unknown_share):
        mode = "patient"
    elif share > lex.max_unknown_share and not anchored:
        mode = "not_covered"
    elif not cue and intent_hit and intent.id != "drug" and (anchored or share == 0.0):
        mode = "patient"
    elif matches:
        mode = "fact"
    else:
        mode = "not_covered"

    facts: AskFacts | None = None
    plan: Plan | None = None
    if mode == "patient":
        run = _patient(ex, layout, kb)
        plan = run.plan
        facts = AskFacts(
            extracted=dict(ex.values),
            evidence=dict(ex.evidence),
            assumed=run.assumed,
            assumptions=run.assumptions,
            ranges=run.ranges,
            unreadable=dict(ex.unreadable),
        )
        body, cites = _patient_answer(text, intent, topic_drugs, ex, run, matches, kb, layout)
    elif mode == "fact":
        body, cites = _fact_answer(text, matches, kb, layout, ex.drugs)
    elif declined is not None:
        body, cites = _declined_answer(text, declined, matches, kb, layout)
    else:
        body, cites = _not_covered(text, matches, kb, layout)
    return Answer(
        question=text,
        answer=body,
        citations=cites,
        intent=intent.id if mode != "not_covered" else "none",
        mode=mode,
        covered=mode != "not_covered",
        facts=facts,
        plan=plan,
        matches=[
            Match(
                id=s.id,
                kind=s.kind,
                title=s.title,
                text=s.text,
                citations=list(s.citations),
                score=round(sc, 3),
            )
            for s, sc in matches
        ],
        knowledge_version=kb.version,
    )
