"""The knowledge lint's no-contradiction proof: no plan both offers and advises against the same
decision (a medicine, or a procedure such as vertebral augmentation).

Every recommendation row decides something: a medicine (its ``drug``) or a named ``decision``.
Two rows *clash* when one offers that decision (``do``/``consider``) and the other advises
against it (``avoid``/``contraindicated``). A clash is resolved by declaration only when both rows
sit in one table whose hit policy is ``first`` or ``priority``; drug-safety rows are resolved by
design (a safety verdict always wins over an offer). Every other clashing pair, and every pair of
rows in a ``unique`` table, must be proved never to fire together.

The proof is exhaustive over a finite partition of the facts the two rows read:

* each fact a row reads directly is a variable: yes/no/unknown; each vocabulary word or unknown;
  numbers at and between every threshold any condition in the knowledge base uses, and unknown;
  lists as every subset of the words the conditions test (padded to every count they test), and
  unknown;
* a derived fact (pathway, phase …) is a variable over its values and unknown — an
  over-approximation, since it ignores how derived facts constrain each other and the facts they
  share. Every candidate patient found that way is then *realised*: the search looks for base facts
  that produce those derived values and agree with the direct facts, and replays both rows on them
  through the engine's own derivation. Only a realised patient is a clash; if no candidate is
  realisable, no patient at all makes both rows fire.

Three-valued logic is part of the space: an unknown fact is a value, a row fires when its condition
is true, or when it is unknown and the row proposes ``consider`` on unknowns (``if_unknown``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from vertebra.facts import FACT_NAMES, PatientFacts
from vertebra.knowledge.conditions import facts_used
from vertebra.knowledge.loader import CompiledRow, CompiledTable, KnowledgeBase

_NUMERIC_OPS = ("lt", "lte", "gt", "gte")
_WORD_OPS = ("contains", "contains_any", "lacks", "lacks_all", "in", "not_in")
_COUNT_OPS = ("count_gte", "count_lt")
_OFFER = ("do", "consider")
_AGAINST = ("avoid", "contraindicated")


@dataclass(frozen=True)
class Clash:
    """Two rows that fire together for ``patient`` with opposite verdicts on ``decision``."""

    decision: str
    rows: tuple[str, str]
    actions: tuple[str, str]
    patient: dict[str, Any]

    def describe(self) -> str:
        facts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.patient.items()))
        return (
            f"{self.rows[0]} ({self.actions[0]}) and {self.rows[1]} ({self.actions[1]}) both "
            f"fire on {self.decision!r} for the patient: {facts or '(all facts unknown)'}"
        )


@dataclass
class Proof:
    decisions: int = 0
    pairs: int = 0
    resolved_by_policy: int = 0
    candidates: int = 0
    clashes: list[Clash] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.clashes

    def summary(self) -> str:
        return (
            f"no-contradiction proof: {self.decisions} decisions, {self.pairs} row pairs checked "
            f"exhaustively ({self.candidates} assignments), {self.resolved_by_policy} resolved by "
            f"a declared hit policy; {len(self.clashes)} clashes"
        )


def _walk(cond: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(fact, operator, argument) for every test in a condition; equality is operator 'eq'."""
    for key, value in cond.items():
        if key in ("any", "all"):
            for sub in value:
                yield from _walk(sub)
        elif key == "not":
            yield from _walk(value)
        elif isinstance(value, Mapping):
            for op, arg in value.items():
                yield key, op, arg
        else:
            yield key, "eq", value


def _all_conditions(kb: KnowledgeBase) -> Iterator[Mapping[str, Any]]:
    for t in kb.tables:
        yield t.table.applies_when
        for r in t.rows:
            yield r.row.when
    for s in kb.safety_rows:
        yield s.row.when
    for d in kb.derived:
        for case in d.spec.cases:
            yield case.when


def _annotation_kind(fact: str) -> str:
    info = PatientFacts.model_fields.get(fact)
    if info is None:
        return "other"
    text = str(info.annotation)
    if "list[" in text:
        return "list"
    if text.startswith("bool") or text == "<class 'bool'>" or "bool |" in text:
        return "bool"
    return "scalar"


def _literal_values(fact: str) -> list[Any]:
    info = PatientFacts.model_fields.get(fact)
    found: list[Any] = []
    stack: list[Any] = [info.annotation] if info is not None else []
    while stack:
        ann = stack.pop()
        if str(getattr(ann, "__origin__", "")) == "typing.Literal":
            found.extend(get_args(ann))
        else:
            stack.extend(get_args(ann))
    return sorted(set(found), key=str)


class _Space:
    """The finite partition of every fact's values (and unknown) the knowledge base can tell
    apart."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.derived = {d.spec.name: d.spec for d in kb.derived}
        self.numbers: dict[str, set[float]] = {}
        self.words: dict[str, set[Any]] = {}
        self.counts: dict[str, set[int]] = {}
        for cond in _all_conditions(kb):
            for fact, op, arg in _walk(cond):
                if op in _NUMERIC_OPS or (
                    op == "eq" and isinstance(arg, int | float) and not isinstance(arg, bool)
                ):
                    self.numbers.setdefault(fact, set()).add(float(arg))
                elif op in _WORD_OPS or (op == "eq" and isinstance(arg, str)):
                    values = arg if isinstance(arg, list) else [arg]
                    self.words.setdefault(fact, set()).update(values)
                elif op in _COUNT_OPS:
                    self.counts.setdefault(fact, set()).add(int(arg))
        # A derived fact taken from the first known of several facts shares their thresholds.
        for spec in self.derived.values():
            for src in spec.first_known or ():
                self.numbers.setdefault(src, set()).update(self.numbers.get(spec.name, set()))

    def domain(
        self, fact: str, conds: Iterable[Mapping[str, Any]], required: bool = False
    ) -> list[Any]:
        """The values of ``fact`` that the conditions ``conds`` (the rows being compared) can tell
        apart: for lists, the subsets of the words these conditions test."""
        spec = self.derived.get(fact)
        unknown: list[Any] = [] if required else [None]
        if spec is not None and spec.first_known is None and spec.classes_of is None:
            seen: set[Any] = {c.value for c in spec.cases}
            if spec.default is not None:
                seen.add(spec.default)
            return [*sorted(seen, key=str), None]
        if fact in self.numbers:
            integer = "int" in str(getattr(PatientFacts.model_fields.get(fact), "annotation", ""))
            points = sorted(self.numbers[fact])
            values: list[float] = [points[0] - 1]
            for a, b in itertools.pairwise(points):
                mid = (a + b) / 2
                values += [a, float(int(mid))] if integer and a < int(mid) < b else [a]
                if not integer:
                    values.append(mid)
            values += [points[-1], points[-1] + 1]
            out: list[Any] = [int(v) if integer else v for v in values if v >= 0]
            return list(dict.fromkeys(out)) + unknown
        kind = "list" if spec is not None and spec.classes_of else _annotation_kind(fact)
        if kind == "bool":
            return [True, False, *unknown]
        if kind == "list":
            tested: set[Any] = set()
            for cond in conds:
                for f, op, arg in _walk(cond):
                    if f == fact and op in _WORD_OPS:
                        tested.update(arg if isinstance(arg, list) else [arg])
            words = sorted(tested, key=str)
            fillers = [w for w in _literal_values(fact) if w not in words]
            lengths = sorted({n for c in self.counts.get(fact, set()) for n in (c - 1, c)} | {0})
            lists: list[Any] = []
            for k in range(len(words) + 1):
                for subset in itertools.combinations(words, k):
                    for n in lengths:
                        pad = fillers[: max(0, n - len(subset))]
                        value = list(subset) + pad
                        if value not in lists:
                            lists.append(value)
            return lists + unknown
        words_and_values = self.words.get(fact, set()) | set(_literal_values(fact))
        return [*sorted(words_and_values, key=str), *unknown]


def _fires(row: CompiledRow, table: CompiledTable, ctx: Mapping[str, Any]) -> bool:
    if table.applies(ctx).value is not True:
        return False
    out = row.when(ctx).value
    return out is True or (out is None and row.row.if_unknown == "consider")


def _verdict(row: CompiledRow, ctx: Mapping[str, Any]) -> str:
    out = row.when(ctx).value
    action = row.row.then.action
    if out is None and action == "do":
        return "consider"
    return action


class _Prover:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.space = _Space(kb)
        self.tables = {t.table.id: t for t in kb.tables}
        self._realisations: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        self._realised: dict[Any, dict[str, Any] | None] = {}

    def direct(self, row: CompiledRow) -> list[str]:
        table = self.tables[row.table_id]
        return list(dict.fromkeys(facts_used(table.table.applies_when) + facts_used(row.row.when)))

    def base_inputs(self, name: str) -> list[str]:
        spec = self.space.derived.get(name)
        if spec is None:
            return [name]
        names: list[str] = []
        for case in spec.cases:
            for f in facts_used(case.when):
                names += self.base_inputs(f)
        names += list(spec.first_known or ())
        if spec.classes_of:
            names.append(spec.classes_of)
        return list(dict.fromkeys(names))

    def conditions_of(self, name: str) -> list[Mapping[str, Any]]:
        """Every condition behind a derived fact (its cases, and those of the facts it uses)."""
        spec = self.space.derived.get(name)
        if spec is None:
            return []
        conds: list[Mapping[str, Any]] = []
        for case in spec.cases:
            conds.append(case.when)
            for f in facts_used(case.when):
                conds += self.conditions_of(f)
        return conds

    def derive(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The context the engine builds for these base facts (others unknown)."""
        from vertebra.engine.core import _Run  # the engine's own derivation, not a copy

        run = _Run.__new__(_Run)
        run.kb = self.kb
        run.ctx = {name: base.get(name) for name in FACT_NAMES}
        run.deps = {}
        run.via = {}
        run.ctx["_deps"] = run.deps
        run.ctx["_via"] = run.via
        run.missing = {}
        run.derive()
        return run.ctx

    def realisations(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """Every (base facts, value) the derived fact ``name`` can take, over the partition."""
        cached = self._realisations.get(name)
        if cached is None:
            inputs = self.base_inputs(name)
            conds = self.conditions_of(name)
            domains = [self.space.domain(f, conds, f in ("age", "sex")) for f in inputs]
            cached = []
            for combo in itertools.product(*domains):
                base = dict(zip(inputs, combo, strict=True))
                cached.append((base, self.derive(base)[name]))
            self._realisations[name] = cached
        return cached

    def realise(self, assignment: Mapping[str, Any]) -> dict[str, Any] | None:
        """Base facts that give every derived value in ``assignment`` and agree with its direct
        facts; None when there are none."""
        base = {k: v for k, v in assignment.items() if k not in self.space.derived}
        derived = [k for k in assignment if k in self.space.derived]
        inputs = {name: set(self.base_inputs(name)) for name in derived}
        # Facts that tie two constraints together; the rest can take any realising value.
        seen: dict[str, int] = dict.fromkeys(base, 1)
        for names in inputs.values():
            for f in names:
                seen[f] = seen.get(f, 0) + 1
        shared = {f for f, n in seen.items() if n > 1}
        key = (
            tuple(sorted((k, repr(v)) for k, v in assignment.items() if k in derived)),
            tuple(sorted((k, repr(v)) for k, v in base.items() if k in shared)),
        )
        if key in self._realised:
            found = self._realised[key]
            return None if found is None else {**found, **base}
        options: list[list[dict[str, Any]]] = []
        for name in derived:
            projections: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
            for facts, value in self.realisations(name):
                if value != assignment[name]:
                    continue
                if any(k in base and base[k] != v for k, v in facts.items()):
                    continue
                proj = tuple(sorted((k, repr(v)) for k, v in facts.items() if k in shared))
                projections.setdefault(proj, facts)
            options.append(list(projections.values()))
        order = sorted(range(len(derived)), key=lambda i: len(options[i]))
        found = self._extend({}, [options[i] for i in order])
        self._realised[key] = found
        return None if found is None else {**found, **base}

    def _extend(
        self, chosen: dict[str, Any], todo: list[list[dict[str, Any]]]
    ) -> dict[str, Any] | None:
        if not todo:
            return chosen
        for facts in todo[0]:
            if any(k in chosen and chosen[k] != v for k, v in facts.items()):
                continue
            found = self._extend({**chosen, **facts}, todo[1:])
            if found is not None:
                return found
        return None

    def both_fire(self, a: CompiledRow, b: CompiledRow, proof: Proof) -> dict[str, Any] | None:
        names = list(dict.fromkeys(self.direct(a) + self.direct(b)))
        ta, tb = self.tables[a.table_id], self.tables[b.table_id]
        conds = [ta.table.applies_when, a.row.when, tb.table.applies_when, b.row.when]
        domains = [self.space.domain(n, conds, n in ("age", "sex")) for n in names]
        for combo in itertools.product(*domains):
            proof.candidates += 1
            ctx = dict(zip(names, combo, strict=True))
            if not (_fires(a, ta, ctx) and _fires(b, tb, ctx)):
                continue
            base = self.realise(ctx)
            if base is None:
                continue
            real = self.derive(base)
            if _fires(a, ta, real) and _fires(b, tb, real):
                return {k: v for k, v in base.items() if v is not None}
        return None


def _decision(row: CompiledRow) -> str | None:
    then = row.row.then
    return then.drug or then.decision


def prove(kb: KnowledgeBase) -> Proof:
    """Prove that no plan offers and advises against one decision, and that rows of a ``unique``
    table never overlap. Returns the clashes found (each with rows and a patient)."""
    prover = _Prover(kb)
    proof = Proof()
    by_decision: dict[str, list[CompiledRow]] = {}
    for row in kb.rows():
        key = _decision(row)
        if key is not None:
            by_decision.setdefault(key, []).append(row)
    proof.decisions = len(by_decision)
    pairs: list[tuple[str, CompiledRow, CompiledRow]] = []
    for key, rows in by_decision.items():
        offers = [r for r in rows if r.row.then.action in _OFFER]
        against = [r for r in rows if r.row.then.action in _AGAINST]
        for o, a in itertools.product(offers, against):
            table = prover.tables[o.table_id]
            if o.table_id == a.table_id and table.table.hit_policy in ("first", "priority"):
                proof.resolved_by_policy += 1
                continue
            pairs.append((key, o, a))
    for t in kb.tables:
        if t.table.hit_policy == "unique":
            for a, b in itertools.combinations(t.rows, 2):
                pairs.append((f"unique table {t.table.id}", a, b))
    for key, a, b in pairs:
        proof.pairs += 1
        patient = prover.both_fire(a, b, proof)
        if patient is not None:
            proof.clashes.append(
                Clash(
                    decision=key,
                    rows=(a.row.id, b.row.id),
                    actions=(a.row.then.action, b.row.then.action),
                    patient=patient,
                )
            )
    return proof


def explain(clashes: Iterable[Clash]) -> list[str]:
    return [c.describe() for c in clashes]
