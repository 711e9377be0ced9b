"""Evaluate the knowledge base against one patient's facts and assemble the plan.

Steps: derived facts (pathway, phase, …) → every decision table whose trigger holds → each row
(true: recommend; unknown: report the missing facts, and for ``if_unknown: consider`` rows
recommend with ``consider``) → drug safety rows and recorded allergies (contraindications turn a
drug into ``avoid``/``contraindicated``; an unknown contraindication turns ``do`` into
``consider``) → ordering, conflicts, timeline, sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from vertebra.facts import FACT_NAMES, PatientFacts
from vertebra.knowledge import CompiledRow, KnowledgeBase, load
from vertebra.knowledge.conditions import Evaluator
from vertebra.knowledge.loader import CompiledSafetyRow, CompiledTable
from vertebra.knowledge.schema import Derived
from vertebra.plan import (
    ACTIONS,
    CATEGORIES,
    URGENCIES,
    Conflict,
    MissingInformation,
    Pathway,
    Phase,
    Plan,
    Position,
    Recommendation,
    Source,
    TimelineEntry,
)

_URGENCY_RANK = {u: i for i, u in enumerate(URGENCIES)}
_CATEGORY_RANK = {c: i for i, c in enumerate(CATEGORIES)}
_ACTION_RANK = {a: i for i, a in enumerate(ACTIONS)}
_FACT_RANK = {f: i for i, f in enumerate(FACT_NAMES)}
_STRONGER = {"do": 0, "consider": 1, "avoid": 2, "contraindicated": 3}
# One verdict per decision: the strongest wins (a safety verdict over any offer, do over consider).
_VERDICT_RANK = {"consider": 0, "do": 1, "avoid": 2, "contraindicated": 3}
_AGAINST = frozenset(("avoid", "contraindicated"))
_OFFER = frozenset(("do", "consider"))


@dataclass(frozen=True, slots=True)
class _RowInfo:
    """What the engine reads from one recommendation row, gathered once per knowledge base."""

    row: CompiledRow
    when: Evaluator
    action: str
    weaker: str
    consider_if_unknown: bool
    why_fired: str
    why_unknown: str
    explicit: bool
    references: tuple[str, ...]
    cautions: tuple[str, ...]
    title: str
    detail: str
    dose: str | None
    drug: str | None
    safety: tuple[CompiledSafetyRow, ...]
    rank: tuple[int, int]
    place: tuple[int, int]
    conflicts: tuple[str, ...]
    requires: tuple[str, ...]
    only_if_unusable: tuple[str, ...]
    decision: str | None
    id: str
    category: str
    target: str | None
    urgency: str | None
    strength: str
    table: str
    timing: str
    template: dict[str, Any]
    """A recommendation's field values from this row, in field order (the rest set per plan)."""


@dataclass(frozen=True, slots=True)
class _TableInfo:
    table: CompiledTable
    applies: Evaluator
    first: bool
    rows: tuple[_RowInfo, ...]


@dataclass(slots=True)
class _Draft:
    row: CompiledRow
    info: _RowInfo
    action: str
    rationale: list[str]
    citations: list[str]
    cautions: list[str]
    title: str
    detail: str
    dose: str | None = None

    def sort_key(self) -> tuple[int, int, int, int, int]:
        info = self.info
        return (*info.rank, _ACTION_RANK[self.action], *info.place)


def _row_info(kb: KnowledgeBase, row: CompiledRow) -> _RowInfo:
    r = row.row
    then = r.then
    return _RowInfo(
        row=row,
        when=row.when,
        action=then.action,
        weaker=_weaker(then.action),
        consider_if_unknown=r.if_unknown == "consider",
        why_fired=r.why or then.title,
        why_unknown=r.why or f"decides: {then.title}",
        explicit=r.why is not None,
        references=tuple(r.references),
        cautions=tuple(then.cautions),
        title=then.title,
        detail=then.detail,
        dose=then.dose,
        drug=then.drug,
        safety=kb.safety_rows_of(row),
        rank=(
            _URGENCY_RANK.get(then.urgency or "", len(_URGENCY_RANK)),
            _CATEGORY_RANK[then.category],
        ),
        place=(row.table_index, row.index),
        conflicts=tuple(then.conflicts),
        requires=tuple(then.requires),
        only_if_unusable=tuple(then.only_if_unusable),
        decision=then.drug or then.decision,
        id=r.id,
        category=then.category,
        target=then.target,
        urgency=then.urgency,
        strength=then.strength,
        table=row.table_id,
        timing=then.timing,
        template={
            "id": r.id,
            "category": then.category,
            "action": then.action,
            "target": then.target,
            "urgency": then.urgency,
            "drug": then.drug,
            "dose": None,
            "title": then.title,
            "detail": then.detail,
            "rationale": None,
            "citations": None,
            "strength": then.strength,
            "table": row.table_id,
            "timing": then.timing,
            "conflicts": None,
            "cautions": None,
        },
    )


_TABLES: dict[int, tuple[KnowledgeBase, tuple[_TableInfo, ...]]] = {}
_DerivedInfo = tuple[
    Derived, tuple[tuple[Evaluator, Any, str | None], ...], str, bool, Evaluator | None
]
_DERIVED: dict[int, tuple[KnowledgeBase, tuple[_DerivedInfo, ...]]] = {}


def _derived(kb: KnowledgeBase) -> tuple[_DerivedInfo, ...]:
    """Each derived fact with its cases, fallback reason and whether unknown stops it (once per
    knowledge base)."""
    cached = _DERIVED.get(id(kb))
    if cached is None or cached[0] is not kb:
        infos = tuple(
            (
                d.spec,
                d.cases,
                f"needed to decide the {d.spec.label.lower()}",
                d.spec.on_unknown == "stop",
                d.ask_when,
            )
            for d in kb.derived
        )
        cached = _DERIVED[id(kb)] = (kb, infos)
    return cached[1]


def _tables(kb: KnowledgeBase) -> tuple[_TableInfo, ...]:
    """The decision tables as the engine walks them (built once per knowledge base)."""
    cached = _TABLES.get(id(kb))
    if cached is None or cached[0] is not kb:
        infos = tuple(
            _TableInfo(
                table=t,
                applies=t.applies,
                first=t.table.hit_policy == "first",
                rows=tuple(_row_info(kb, r) for r in t.rows),
            )
            for t in kb.tables
        )
        cached = _TABLES[id(kb)] = (kb, infos)
    return cached[1]


_M = TypeVar("_M", bound=BaseModel)


def _build(cls: type[_M], values: dict[str, Any]) -> _M:
    """Instantiate an output model from complete, already-validated values.

    Like pydantic's ``model_construct`` without its per-field default handling (7x faster,
    which matters at half a millisecond per plan). Safe because every value comes from the
    knowledge base, which is validated at load time, and ``values`` names every field."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_set = object.__setattr__


def _build_rec(values: dict[str, Any]) -> Recommendation:
    """``_build(Recommendation, values)`` for the one call per recommendation. Every field is
    given, so every instance's fields-set is the same set of names: a copy of one set."""
    obj = _new_rec(Recommendation)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", _REC_FIELDS.copy())
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_new_rec = Recommendation.__new__
_REC_FIELDS = set(Recommendation.model_fields)


_STATIC: dict[int, tuple[KnowledgeBase, dict[str, Source], dict[str, Conflict]]] = {}


def _static(kb: KnowledgeBase) -> tuple[dict[str, Source], dict[str, Conflict]]:
    """Sources and conflicts never change for one knowledge base: build their models once."""
    cached = _STATIC.get(id(kb))
    if cached is None or cached[0] is not kb:
        sources = {
            s.id: _build(
                Source,
                {
                    "id": s.id,
                    "title": s.title,
                    "organisation": s.organisation,
                    "year": s.year,
                    "url": s.url,
                    "kind": s.kind,
                },
            )
            for s in kb.sources
        }
        conflicts = {
            c.id: _build(
                Conflict,
                {
                    "id": c.id,
                    "topic": c.topic,
                    "summary": c.summary,
                    "positions": [
                        _build(Position, {"source": p.source, "position": p.position})
                        for p in c.positions
                    ],
                    "followed": c.followed,
                },
            )
            for c in kb.conflicts.values()
        }
        cached = (kb, sources, conflicts)
        _STATIC[id(kb)] = cached
    return cached[1], cached[2]


@dataclass
class _Missing:
    why: str
    tables: list[str] = field(default_factory=list)
    explicit: bool = True


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items)) if len(items) > 1 else items


class _Run:
    def __init__(self, kb: KnowledgeBase, facts: PatientFacts) -> None:
        self.kb = kb
        self.facts = facts
        # The validated facts as they are (a shallow copy: nothing here mutates a fact's value;
        # ``model_dump`` would copy every list, which costs more than the derivation itself).
        self.ctx: dict[str, Any] = dict(facts.__dict__)
        self.deps: dict[str, frozenset[str]] = {}
        self.ctx["_deps"] = self.deps
        self.via: dict[str, str] = {}
        self.ctx["_via"] = self.via
        self.missing: dict[str, _Missing] = {}

    def note_missing(
        self, fields: frozenset[str], why: str, table: str, explicit: bool = True
    ) -> None:
        """Record unknown facts; an explicit ``why`` replaces a fallback one."""
        for name in fields:
            entry = self.missing.get(name)
            if entry is None:
                self.missing[name] = _Missing(why, [table], explicit)
                continue
            if explicit and not entry.explicit:
                entry.why, entry.explicit = why, True
            if table not in entry.tables:
                entry.tables.append(table)

    def derive(self) -> None:
        ctx = self.ctx
        for spec, cases, why_default, stop, ask_when in _derived(self.kb):
            name = spec.name
            if spec.first_known is not None:
                found: Any = None
                for source in spec.first_known:
                    found = ctx.get(source)
                    if found is not None:
                        self.via[name] = source
                        break
                ctx[name] = found
                if found is None:
                    self.deps[name] = frozenset(spec.first_known)
                continue
            if spec.classes_of is not None:
                words = ctx.get(spec.classes_of)
                if words is None:
                    ctx[name] = None
                    self.deps[name] = frozenset((spec.classes_of,))
                else:
                    table = self.kb.medicine_classes
                    ctx[name] = sorted({c for w in words for c in table[w]})
                continue
            value: Any = spec.default
            unknown: frozenset[str] = frozenset()
            ask: bool | None = None  # ask_when, evaluated only if a case is unknown
            for evaluate, case_value, why in cases:
                out = evaluate(ctx)
                if out.value is True:
                    value = case_value
                    break
                if out.value is None:
                    unknown |= out.unknown
                    if ask is None:
                        # unknown is never "no": only a false ask_when keeps them out
                        ask = ask_when is None or ask_when(ctx).value is not False
                    if ask:
                        self.note_missing(
                            out.unknown, why or why_default, f"derived:{name}", why is not None
                        )
                    if stop:
                        value = None
                        break
            ctx[name] = value
            if value is None:
                self.deps[name] = unknown

    def evaluate_tables(self) -> list[_Draft]:
        drafts: list[_Draft] = []
        ctx = self.ctx
        for tinfo in _tables(self.kb):
            applies = tinfo.applies(ctx)
            if applies.value is not True:
                if applies.value is None:
                    table = tinfo.table.table
                    self.note_missing(applies.unknown, table.trigger, table.id)
                continue
            table_id = tinfo.table.table.id
            base = applies.reasons
            for info in tinfo.rows:
                out = info.when(ctx)
                value = out.value
                if value is True:
                    reasons = base + out.reasons
                    drafts.append(
                        _Draft(
                            info.row,
                            info,
                            info.action,
                            list(dict.fromkeys(reasons))
                            if len(reasons) > 1
                            else list(reasons)
                            if reasons
                            else self._where(),
                            list(info.references),
                            list(info.cautions),
                            info.title,
                            info.detail,
                            info.dose,
                        )
                    )
                    if out.unknown:
                        self.note_missing(out.unknown, info.why_fired, table_id, info.explicit)
                elif value is None:
                    self.note_missing(out.unknown, info.why_unknown, table_id, info.explicit)
                    if info.consider_if_unknown:
                        draft = self._draft(info, info.weaker, base)
                        labels = ", ".join(sorted(self.kb.label(f) for f in out.unknown))
                        draft.cautions.append(f"Not yet confirmed — document: {labels}.")
                        draft.rationale.append(f"Still unknown: {labels}")
                        drafts.append(draft)
                    elif tinfo.first:
                        break
                    continue
                else:
                    continue
                if tinfo.first:
                    break
        return drafts

    def _where(self) -> list[str]:
        """The rationale of a row that fired without naming a fact."""
        levels = ", ".join(self.facts.fracture_levels or []) or "an unconfirmed level"
        return [f"Vertebral fracture at {levels}"]

    def _draft(self, info: _RowInfo, action: str, reasons: tuple[str, ...]) -> _Draft:
        if len(reasons) > 1:
            rationale = list(dict.fromkeys(reasons))
        elif reasons:
            rationale = [reasons[0]]
        else:
            rationale = self._where()
        return _Draft(
            info.row,
            info,
            action,
            rationale,
            list(info.references),
            list(info.cautions),
            info.title,
            info.detail,
            info.dose,
        )

    def apply_safety(self, drafts: list[_Draft]) -> list[_Draft]:
        """Safety rows and allergies on every offered medicine (and procedure rows named by a
        safety row), companion and "only if unusable" drugs, then one verdict per decision."""
        kb = self.kb
        allergies = self.facts.allergies
        touched: list[_Draft] = []
        outcomes: dict[int, Any] = {}  # one evaluation per safety row per plan
        unknown_labels: dict[int, str] = {}
        ctx = self.ctx
        for draft in drafts:
            drug = draft.info.drug
            rows = draft.info.safety
            if draft.action not in _OFFER or (not rows and (drug is None or allergies is None)):
                continue
            touched.append(draft)
            verdict: str | None = None
            why_title = ""
            adjusted: str | None = None
            for srow in rows:
                out = outcomes.get(srow.index)
                if out is None:
                    out = outcomes[srow.index] = srow.when(ctx)
                row = srow.row
                if out.value is True:
                    if row.action in _AGAINST:
                        if verdict is None or _STRONGER[row.action] > _STRONGER[verdict]:
                            verdict = row.action
                            why_title = _phrase(out.reasons[0]) if out.reasons else row.reason
                        draft.cautions.append(row.reason)
                        if row.alternative:
                            draft.cautions.append(f"Alternative: {row.alternative}")
                    elif row.action == "adjust":
                        if adjusted is None:
                            adjusted = row.dose
                            draft.cautions.append(f"Dose adjusted: {row.reason}")
                        else:
                            draft.cautions.append(f"Also: {row.reason} ({row.dose})")
                    else:
                        draft.cautions.append(row.reason)
                    if row.at_most == "consider" and draft.action == "do":
                        draft.action = "consider"
                    draft.rationale.extend(out.reasons)
                    draft.citations.extend(row.references)
                elif out.value is None:
                    labels = unknown_labels.get(srow.index)
                    if labels is None:
                        labels = unknown_labels[srow.index] = ", ".join(
                            sorted(kb.label(f) for f in out.unknown)
                        )
                    draft.cautions.append(f"Check {labels} first: {row.reason}")
                    draft.citations.extend(row.references)
                    self.note_missing(out.unknown, row.why or row.reason, "safety")
                    if draft.action == "do" and row.action != "caution":
                        draft.action = "consider"
                        draft.rationale.append(f"Not yet confirmed safe: {labels} unknown")
            allergy = kb.allergy(drug, allergies) if drug is not None else None
            if allergy is not None:
                verdict, why_title = allergy.action, allergy.title
                draft.cautions.append(allergy.caution)
                draft.rationale.append(allergy.rationale)
            if verdict is not None:
                self._against(draft, verdict, why_title)
            elif adjusted is not None:
                draft.dose = adjusted
        usable = {d.info.drug for d in drafts if d.action in _OFFER}
        for draft in drafts:
            info = draft.info
            if draft.action not in _OFFER or not (info.requires or info.only_if_unusable):
                continue
            needs = [n for n in info.requires if n not in usable]
            if needs:
                names = " or ".join(kb.drug_name(n) for n in needs)
                draft.cautions.append(
                    f"Cannot be used safely without {names}, which is not usable for this patient."
                )
                draft.rationale.append(f"Companion drug not usable: {names}")
                self._against(draft, "avoid", f"{names} not usable")
                touched.append(draft)
                continue
            others = [n for n in info.only_if_unusable if n in usable]
            if others:
                names = " or ".join(kb.drug_name(n) for n in others)
                draft.cautions.append(
                    f"Only for patients who cannot use other osteoporosis medicines: {names} "
                    "can be used."
                )
                draft.rationale.append(f"Usable instead: {names}")
                self._against(draft, "avoid", f"{names} can be used instead")
                touched.append(draft)
        if allergies is None and any(d.info.drug for d in drafts):
            self.note_missing(
                frozenset(("allergies",)),
                "Medicines are recommended: record drug allergies before prescribing.",
                "safety",
            )
        for draft in touched:
            draft.rationale = _dedupe(draft.rationale)
            draft.citations = _dedupe(draft.citations)
            draft.cautions = _dedupe(draft.cautions)
        return self.one_verdict(drafts)

    def _against(self, draft: _Draft, verdict: str, why: str) -> None:
        """Turn an offer into ``avoid``/``contraindicated``: a readable title, no dose to give."""
        then = draft.row.row.then
        draft.action = verdict
        draft.dose = None
        prefix = "Do not use" if verdict == "contraindicated" else "Avoid"
        if then.drug is not None:
            draft.title = f"{prefix} {self.kb.drug_name(then.drug)} — {why}"
        else:
            draft.title = f"{prefix}: {draft.title[0].lower()}{draft.title[1:]} — {why}"

    def one_verdict(self, drafts: list[_Draft]) -> list[_Draft]:
        """One verdict per decision. A medicine appears once (its strongest verdict); a procedure
        is never offered next to advice against it (the advice against wins). The knowledge lint
        proves that, in the shipped tables, only safety rows and declared hit policies ever need
        this; it is the engine's guarantee all the same."""
        groups: dict[str, list[_Draft]] = {}
        for d in drafts:
            key = d.info.decision
            if key is not None:
                groups.setdefault(key, []).append(d)
        dropped: set[int] = set()
        for items in groups.values():
            if len(items) < 2:
                continue
            if items[0].row.row.then.drug is not None:
                best = max(items, key=lambda d: (_VERDICT_RANK[d.action], -d.row.table_index))
                losers = [d for d in items if d is not best]
            else:
                against = [d for d in items if d.action in _AGAINST]
                if not against:
                    continue
                best = against[0]
                losers = [d for d in items if d.action in _OFFER]
            for loser in losers:
                dropped.add(id(loser))
                best.cautions.append(
                    f"One verdict per decision: “{loser.title}” ({loser.action}) is not shown."
                )
                best.citations = _dedupe(best.citations + loser.citations)
        if not dropped:
            return drafts
        return [d for d in drafts if id(d) not in dropped]


def _phrase(reason: str) -> str:
    """A rationale ("Creatinine clearance: 24 mL/min (< 30)") as a title phrase
    ("creatinine clearance 24 mL/min (< 30)")."""
    text = reason.replace(": ", " ", 1)
    return text[:1].lower() + text[1:] if not text[1:2].isupper() else text


def _weaker(action: str) -> str:
    return "consider" if action == "do" else action


def plan(facts: PatientFacts, kb: KnowledgeBase | None = None) -> Plan:
    """The complete cited management plan for one patient."""
    kb = kb or load()
    run = _Run(kb, facts)
    run.derive()
    drafts = run.apply_safety(run.evaluate_tables())
    drafts.sort(key=_Draft.sort_key)

    recs: list[Recommendation] = []
    conflict_ids: dict[str, None] = {}
    cited: dict[str, None] = dict.fromkeys(chain.from_iterable(d.citations for d in drafts))
    for d in drafts:
        info = d.info
        if info.conflicts:
            conflict_ids.update(dict.fromkeys(info.conflicts))
        values = info.template.copy()  # the row's fields, in field order
        values["action"] = d.action
        values["dose"] = d.dose
        values["title"] = d.title
        values["detail"] = d.detail
        values["rationale"] = d.rationale
        values["citations"] = d.citations
        values["conflicts"] = list(info.conflicts)
        values["cautions"] = d.cautions
        recs.append(_build_rec(values))

    static_sources, static_conflicts = _static(kb)
    conflicts: list[Conflict] = []
    for cid in kb.conflicts:
        if cid in conflict_ids:
            cited.update(dict.fromkeys(p.source for p in kb.conflicts[cid].positions))
            conflicts.append(static_conflicts[cid])

    by_slot: dict[str, list[str]] = {}
    for r in recs:
        by_slot.setdefault(r.timing, []).append(r.id)
    timeline = [
        _build(
            TimelineEntry,
            {
                "id": slot.id,
                "when": slot.when,
                "weeks": slot.weeks,
                "recommendations": by_slot[slot.id],
            },
        )
        for slot in kb.vocabulary.timeline
        if slot.id in by_slot
    ]
    missing = [
        _build(MissingInformation, {"field": name, "why": m.why, "tables": m.tables})
        for name, m in sorted(run.missing.items(), key=lambda kv: _FACT_RANK.get(kv[0], 999))
    ]
    sources = [static_sources[s.id] for s in kb.sources if s.id in cited]
    pathway = cast(Pathway, run.ctx.get("pathway") or "stable")
    phase = cast(Phase, run.ctx.get("phase") or "unknown")
    return _build(
        Plan,
        {
            "knowledge_version": kb.version,
            "pathway": pathway,
            "phase": phase,
            "recommendations": recs,
            "conflicts": conflicts,
            "missing_information": missing,
            "timeline": timeline,
            "sources": sources,
            "summary": _summary(kb, pathway, phase, recs, missing),
            "facts_from_text": [],  # set by FHIR adapters when facts came from report text
        },
    )


def _summary(
    kb: KnowledgeBase,
    pathway: str,
    phase: str,
    recs: list[Recommendation],
    missing: list[MissingInformation],
) -> str:
    first = next((r for r in recs if r.action == "do"), recs[0] if recs else None)
    parts = [f"{kb.show('pathway', pathway).capitalize()} pathway, {phase} phase"]
    if first is not None:
        parts.append(f"first: {first.title}")
    parts.append(f"{len(recs)} recommendation{'' if len(recs) == 1 else 's'}")
    if missing:
        parts.append(f"{len(missing)} fact{'' if len(missing) == 1 else 's'} to document")
    return "; ".join(parts) + "."


def context(facts: PatientFacts, kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """The facts as the decision tables see them: the patient's facts plus every derived fact
    (pathway, phase, …), with ``_deps`` naming the unknown inputs of unknown derived facts.
    Adapters use it to evaluate single rows (e.g. a drug's safety rows for a draft order)."""
    run = _Run(kb or load(), facts)
    run.derive()
    return run.ctx


def plan_json(facts: PatientFacts) -> str:
    """The plan as deterministic JSON text."""
    return plan(facts).to_json()
