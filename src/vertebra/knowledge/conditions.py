"""The condition language of the decision tables, with three-valued logic.

A condition is a YAML mapping read as AND over its entries::

    neurological_deficit: true                 # equality (yes/no, a vocabulary word, a number)
    creatinine_clearance: {lt: 35}             # lt, lte, gt, gte
    deformity: {in: [significant, progressive]} # in, not_in
    conditions: {contains: dementia}           # contains, contains_any, lacks, lacks_all
    fracture_levels: {count_gte: 2}            # count_gte, count_lt (list length)
    mri_done: {unknown: true}                  # unknown / known: is the fact documented?
    any: [ {...}, {...} ]                      # OR over sub-conditions
    all: [ {...}, {...} ]                      # AND over sub-conditions
    not: {...}

A fact that is absent (``None``) makes its test *unknown*, never false. AND is false if any part is
false, else unknown if any part is unknown; OR is true if any part is true, else unknown if any
part is unknown. Each evaluation returns the value, the facts that made it true (in words, for the
recommendation's rationale) and the facts whose absence left it unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Context = Mapping[str, Any]
"""Fact name -> value (None = unknown). Key ``_deps`` maps derived facts to their unknown inputs;
key ``_via`` maps a derived fact taken from one of several facts to the fact it came from."""


@dataclass(frozen=True, slots=True)
class Outcome:
    value: bool | None
    reasons: tuple[str, ...] = ()
    unknown: frozenset[str] = frozenset()
    """When ``value`` is None: the facts whose absence left it unknown. When True: the facts the
    condition fired *because* they are undocumented (``unknown: true`` tests)."""


Evaluator = Callable[[Context], Outcome]
Describer = Callable[[str], str]
Shower = Callable[[str, Any], str]

SCALAR_OPS = ("lt", "lte", "gt", "gte")
SET_OPS = ("in", "not_in")
LIST_OPS = ("contains", "contains_any", "lacks", "lacks_all", "count_gte", "count_lt")
PRESENCE_OPS = ("unknown", "known")
OPERATORS = SCALAR_OPS + SET_OPS + LIST_OPS + PRESENCE_OPS

_SYMBOL = {"lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}
_UNKNOWN: dict[str, frozenset[str]] = {}
_NO_VIA: dict[str, str] = {}


class ConditionError(ValueError):
    """A malformed condition in a knowledge file."""


def facts_used(cond: Mapping[str, Any]) -> list[str]:
    """Every fact name a condition reads, in order of first use."""
    seen: dict[str, None] = {}
    for key, value in cond.items():
        if key in ("any", "all"):
            for sub in value:
                seen.update(dict.fromkeys(facts_used(sub)))
        elif key == "not":
            seen.update(dict.fromkeys(facts_used(value)))
        else:
            seen[key] = None
    return list(seen)


def _unknown_of(ctx: Context, name: str) -> frozenset[str]:
    deps: Mapping[str, frozenset[str]] = ctx.get("_deps", _UNKNOWN)
    return deps.get(name) or frozenset((name,))


def compile_condition(cond: Mapping[str, Any], label: Describer, show: Shower) -> Evaluator:
    """Compile a condition mapping into an evaluator. ``label`` names a fact in words and
    ``show`` renders a fact's value in words (both used for rationales)."""
    if not isinstance(cond, Mapping):
        raise ConditionError(f"a condition must be a mapping, got {cond!r}")
    parts = [_compile_entry(k, v, label, show) for k, v in cond.items()]
    if not parts:
        return lambda ctx: Outcome(True)
    if len(parts) == 1:
        return parts[0]
    return _all(parts)


def _all(parts: Sequence[Evaluator]) -> Evaluator:
    def run(ctx: Context) -> Outcome:
        reasons: list[str] = []
        unknown: set[str] = set()
        asked: set[str] = set()
        for part in parts:
            out = part(ctx)
            if out.value is False:
                return Outcome(False)
            if out.value is None:
                unknown |= out.unknown
            else:
                reasons.extend(out.reasons)
                asked |= out.unknown
        if unknown:
            return Outcome(None, (), frozenset(unknown))
        return Outcome(True, tuple(reasons), frozenset(asked))

    return run


def _any(parts: Sequence[Evaluator]) -> Evaluator:
    def run(ctx: Context) -> Outcome:
        unknown: set[str] = set()
        for part in parts:
            out = part(ctx)
            if out.value is True:
                return out
            if out.value is None:
                unknown |= out.unknown
        if unknown:
            return Outcome(None, (), frozenset(unknown))
        return Outcome(False)

    return run


def _not(inner: Evaluator, text: str) -> Evaluator:
    def run(ctx: Context) -> Outcome:
        out = inner(ctx)
        if out.value is None:
            return out
        return Outcome(not out.value, (text,) if out.value is False else ())

    return run


def describe(cond: Mapping[str, Any], label: Describer, show: Shower) -> str:
    """A condition in words, for clinicians reading a table row."""
    words: list[str] = []
    for key, value in cond.items():
        if key == "any":
            words.append("(" + " OR ".join(describe(v, label, show) for v in value) + ")")
        elif key == "all":
            words.append("(" + " AND ".join(describe(v, label, show) for v in value) + ")")
        elif key == "not":
            words.append("NOT " + describe(value, label, show))
        elif isinstance(value, Mapping):
            for op, arg in value.items():
                words.append(_describe_op(key, op, arg, label, show))
        else:
            words.append(f"{label(key)} is {show(key, value)}")
    return " AND ".join(words) if words else "always"


def _describe_op(name: str, op: str, arg: Any, label: Describer, show: Shower) -> str:
    lab = label(name)
    if op in _SYMBOL:
        return f"{lab} {_SYMBOL[op]} {arg}"
    if op == "in":
        return f"{lab} is one of {', '.join(show(name, a) for a in arg)}"
    if op == "not_in":
        return f"{lab} is none of {', '.join(show(name, a) for a in arg)}"
    if op == "contains":
        return f"{lab} include {show(name, arg)}"
    if op == "contains_any":
        return f"{lab} include any of {', '.join(show(name, a) for a in arg)}"
    if op == "lacks":
        return f"{lab} do not include {show(name, arg)}"
    if op == "lacks_all":
        return f"{lab} include none of {', '.join(show(name, a) for a in arg)}"
    if op == "count_gte":
        return f"{lab}: {arg} or more"
    if op == "count_lt":
        return f"{lab}: fewer than {arg}"
    if op == "unknown":
        return f"{lab} is not documented" if arg else f"{lab} is documented"
    if op == "known":
        return f"{lab} is documented" if arg else f"{lab} is not documented"
    raise ConditionError(f"{name}: unknown operator {op!r}")


def _compile_entry(key: str, value: Any, label: Describer, show: Shower) -> Evaluator:
    if key in ("any", "all"):
        if not isinstance(value, list) or not value:
            raise ConditionError(f"{key!r} takes a non-empty list of conditions")
        parts = [compile_condition(v, label, show) for v in value]
        return _any(parts) if key == "any" else _all(parts)
    if key == "not":
        return _not(compile_condition(value, label, show), "NOT " + describe(value, label, show))
    if isinstance(value, Mapping):
        if not value:
            raise ConditionError(f"{key}: empty operator mapping")
        ops = [_compile_op(key, op, arg, label, show) for op, arg in value.items()]
        return ops[0] if len(ops) == 1 else _all(ops)
    if isinstance(value, list):
        raise ConditionError(f"{key}: a list needs an operator such as 'in' or 'contains_any'")
    return _equals(key, value, label, show)


def _equals(name: str, expected: Any, label: Describer, show: Shower) -> Evaluator:
    reason = f"{label(name)}: {show(name, expected)}"

    def run(ctx: Context) -> Outcome:
        actual = ctx.get(name)
        if actual is None:
            return Outcome(None, (), _unknown_of(ctx, name))
        return Outcome(True, (reason,)) if actual == expected else Outcome(False)

    return run


def _compile_op(name: str, op: str, arg: Any, label: Describer, show: Shower) -> Evaluator:
    lab = label(name)
    if op in PRESENCE_OPS:
        if not isinstance(arg, bool):
            raise ConditionError(f"{name}: {op!r} takes true or false")
        want_missing = arg if op == "unknown" else not arg
        text = f"{lab}: not documented" if want_missing else f"{lab}: documented"

        asked = frozenset((name,)) if want_missing else frozenset()

        def presence(ctx: Context) -> Outcome:
            missing = ctx.get(name) is None
            return Outcome(True, (text,), asked) if missing == want_missing else Outcome(False)

        return presence
    if op in SCALAR_OPS:
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            raise ConditionError(f"{name}: {op!r} takes a number")
        return _compare(name, op, float(arg), label, show)
    if (op in SET_OPS or op in ("contains_any", "lacks_all")) and (
        not isinstance(arg, list) or not arg
    ):
        raise ConditionError(f"{name}: {op!r} takes a non-empty list")
    if op in SET_OPS:
        allowed = frozenset(arg)
        negate = op == "not_in"

        def member(ctx: Context) -> Outcome:
            actual = ctx.get(name)
            if actual is None:
                return Outcome(None, (), _unknown_of(ctx, name))
            hit = (actual in allowed) != negate
            return Outcome(True, (f"{lab}: {show(name, actual)}",)) if hit else Outcome(False)

        return member
    if op in LIST_OPS:
        return _list_op(name, op, arg, lab, show)
    raise ConditionError(f"{name}: unknown operator {op!r}; allowed: {', '.join(OPERATORS)}")


def _compare(name: str, op: str, limit: float, label: Describer, show: Shower) -> Evaluator:
    lab = label(name)
    sym = _SYMBOL[op]
    test: Callable[[float], bool] = {
        "lt": lambda v: v < limit,
        "lte": lambda v: v <= limit,
        "gt": lambda v: v > limit,
        "gte": lambda v: v >= limit,
    }[op]
    shown_limit = f"{limit:g}"

    def run(ctx: Context) -> Outcome:
        actual = ctx.get(name)
        if actual is None:
            return Outcome(None, (), _unknown_of(ctx, name))
        if test(actual):
            # A derived fact taken from the first known of several facts names the one used.
            src: str = ctx.get("_via", _NO_VIA).get(name, name)
            shown = lab if src == name else label(src)
            return Outcome(True, (f"{shown}: {show(src, actual)} ({sym} {shown_limit})",))
        return Outcome(False)

    return run


def _list_op(name: str, op: str, arg: Any, lab: str, show: Shower) -> Evaluator:
    if op in ("count_gte", "count_lt"):
        if isinstance(arg, bool) or not isinstance(arg, int):
            raise ConditionError(f"{name}: {op!r} takes a whole number")
        n = arg
        at_least = op == "count_gte"

        def count(ctx: Context) -> Outcome:
            actual = ctx.get(name)
            if actual is None:
                return Outcome(None, (), _unknown_of(ctx, name))
            ok = len(actual) >= n if at_least else len(actual) < n
            if not ok:
                return Outcome(False)
            return Outcome(True, (f"{lab}: {len(actual)} ({', '.join(map(str, actual))})",))

        return count
    wanted = frozenset(arg) if isinstance(arg, list) else frozenset((arg,))
    if op in ("contains", "contains_any"):

        def contains(ctx: Context) -> Outcome:
            actual = ctx.get(name)
            if actual is None:
                return Outcome(None, (), _unknown_of(ctx, name))
            hits = [a for a in actual if a in wanted]
            if not hits:
                return Outcome(False)
            return Outcome(True, (f"{lab}: {', '.join(show(name, h) for h in hits)}",))

        return contains
    missing_text = f"{lab}: none of {', '.join(show(name, w) for w in sorted(wanted))}"

    def lacks(ctx: Context) -> Outcome:
        actual = ctx.get(name)
        if actual is None:
            return Outcome(None, (), _unknown_of(ctx, name))
        if wanted.isdisjoint(actual):
            return Outcome(True, (missing_text,))
        return Outcome(False)

    return lacks
