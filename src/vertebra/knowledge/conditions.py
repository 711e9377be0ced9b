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

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

Context = Mapping[str, Any]
"""Fact name -> value (None = unknown). Key ``_deps`` maps derived facts to their unknown inputs;
key ``_via`` maps a derived fact taken from one of several facts to the fact it came from."""


_COMBINATORS = ("any", "all", "not")  # the keys that combine conditions


class Outcome(NamedTuple):
    """The result of one evaluation (a named tuple: built for every condition test, so cheap to
    construct)."""

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
_TESTS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_UNKNOWN: dict[str, frozenset[str]] = {}
_NO_VIA: dict[str, str] = {}
_FALSE = Outcome(False)
_TRUE = Outcome(True)


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


def _absent(name: str) -> Callable[[Context], Outcome]:
    """The outcome when fact ``name`` is absent: unknown, naming the fact (or, for a derived
    fact, the unknown facts it is computed from). Built once per compiled test."""
    own = Outcome(None, (), frozenset((name,)))

    def absent(ctx: Context) -> Outcome:
        deps: Mapping[str, frozenset[str]] = ctx.get("_deps", _UNKNOWN)
        found = deps.get(name)
        return Outcome(None, (), found) if found else own

    return absent


def compile_condition(cond: Mapping[str, Any], label: Describer, show: Shower) -> Evaluator:
    """Compile a condition mapping into an evaluator. ``label`` names a fact in words and
    ``show`` renders a fact's value in words (both used for rationales)."""
    if not isinstance(cond, Mapping):
        raise ConditionError(f"a condition must be a mapping, got {cond!r}")
    parts = [_compile_entry(k, v, label, show) for k, v in cond.items()]
    if not parts:
        return lambda ctx: _TRUE
    if len(parts) == 1:
        return parts[0]
    return _all(parts, _equalities(cond))


def _equalities(cond: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The plain ``fact: value`` tests of a condition, for a quick false check."""
    return tuple(
        (k, v)
        for k, v in cond.items()
        if k not in _COMBINATORS and not isinstance(v, Mapping | list)
    )


def _all(parts: Sequence[Evaluator], equalities: tuple[tuple[str, Any], ...] = ()) -> Evaluator:
    """AND. ``equalities`` are plain ``fact: value`` tests among ``parts``: checked first, as one
    that is false makes the whole false (the parts have no side effects, so the outcome is the
    same as evaluating them in order), which settles most rows without calling each part."""
    parts = tuple(parts)

    def run(ctx: Context) -> Outcome:
        if equalities:
            get = ctx.get
            for name, expected in equalities:
                actual = get(name)
                if actual is not None and actual != expected:
                    return _FALSE
        held: list[Outcome] = []
        unknown: frozenset[str] | None = None
        for part in parts:
            out = part(ctx)
            value = out.value
            if value is False:
                return _FALSE
            if value is None:
                unknown = out.unknown if unknown is None else unknown | out.unknown
            else:
                held.append(out)
        if unknown:
            return Outcome(None, (), unknown)
        reasons: tuple[str, ...] = ()
        asked: frozenset[str] = frozenset()
        for out in held:
            reasons += out.reasons
            if out.unknown:
                asked |= out.unknown
        return Outcome(True, reasons, asked)

    return run


def _any(parts: Sequence[Evaluator]) -> Evaluator:
    parts = tuple(parts)

    def run(ctx: Context) -> Outcome:
        unknown: frozenset[str] | None = None
        for part in parts:
            out = part(ctx)
            value = out.value
            if value is True:
                return out
            if value is None:
                unknown = out.unknown if unknown is None else unknown | out.unknown
        if unknown:
            return Outcome(None, (), unknown)
        return _FALSE

    return run


def _not(inner: Evaluator, text: str) -> Evaluator:
    def run(ctx: Context) -> Outcome:
        out = inner(ctx)
        if out.value is None:
            return out
        return negated if out.value is False else _FALSE

    negated = Outcome(True, (text,))
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
    held = Outcome(True, (f"{label(name)}: {show(name, expected)}",))
    absent = _absent(name)

    def run(ctx: Context) -> Outcome:
        actual = ctx.get(name)
        if actual is None:
            return absent(ctx)
        return held if actual == expected else _FALSE

    return run


def _compile_op(name: str, op: str, arg: Any, label: Describer, show: Shower) -> Evaluator:
    lab = label(name)
    if op in PRESENCE_OPS:
        if not isinstance(arg, bool):
            raise ConditionError(f"{name}: {op!r} takes true or false")
        want_missing = arg if op == "unknown" else not arg
        text = f"{lab}: not documented" if want_missing else f"{lab}: documented"

        asked = frozenset((name,)) if want_missing else frozenset()

        held = Outcome(True, (text,), asked)

        def presence(ctx: Context) -> Outcome:
            missing = ctx.get(name) is None
            return held if missing == want_missing else _FALSE

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
        absent = _absent(name)

        seen: dict[tuple[type, Any], Outcome] = {}  # one outcome per value seen

        def member(ctx: Context) -> Outcome:
            actual = ctx.get(name)
            if actual is None:
                return absent(ctx)
            if (actual in allowed) == negate:
                return _FALSE
            key = (type(actual), actual)
            out = seen.get(key)
            if out is None:
                out = seen[key] = Outcome(True, (f"{lab}: {show(name, actual)}",))
            return out

        return member
    if op in LIST_OPS:
        return _list_op(name, op, arg, lab, show)
    raise ConditionError(f"{name}: unknown operator {op!r}; allowed: {', '.join(OPERATORS)}")


def _compare(name: str, op: str, limit: float, label: Describer, show: Shower) -> Evaluator:
    lab = label(name)
    sym = _SYMBOL[op]
    test: Callable[[Any, Any], Any] = _TESTS[op]
    shown_limit = f"{limit:g}"
    absent = _absent(name)

    def run(ctx: Context) -> Outcome:
        actual = ctx.get(name)
        if actual is None:
            return absent(ctx)
        if test(actual, limit):
            # A derived fact taken from the first known of several facts names the one used.
            src: str = ctx.get("_via", _NO_VIA).get(name, name)
            shown = lab if src == name else label(src)
            return Outcome(True, (f"{shown}: {show(src, actual)} ({sym} {shown_limit})",))
        return _FALSE

    return run


def _list_op(name: str, op: str, arg: Any, lab: str, show: Shower) -> Evaluator:
    if op in ("count_gte", "count_lt"):
        if isinstance(arg, bool) or not isinstance(arg, int):
            raise ConditionError(f"{name}: {op!r} takes a whole number")
        n = arg
        at_least = op == "count_gte"
        absent = _absent(name)

        def count(ctx: Context) -> Outcome:
            actual = ctx.get(name)
            if actual is None:
                return absent(ctx)
            ok = len(actual) >= n if at_least else len(actual) < n
            if not ok:
                return _FALSE
            return Outcome(True, (f"{lab}: {len(actual)} ({', '.join(map(str, actual))})",))

        return count
    wanted = frozenset(arg) if isinstance(arg, list) else frozenset((arg,))
    absent = _absent(name)
    if op in ("contains", "contains_any"):

        def contains(ctx: Context) -> Outcome:
            actual = ctx.get(name)
            if actual is None:
                return absent(ctx)
            hits = [a for a in actual if a in wanted]
            if not hits:
                return _FALSE
            return Outcome(True, (f"{lab}: {', '.join(show(name, h) for h in hits)}",))

        return contains
    held = Outcome(True, (f"{lab}: none of {', '.join(show(name, w) for w in sorted(wanted))}",))

    def lacks(ctx: Context) -> Outcome:
        actual = ctx.get(name)
        if actual is None:
            return absent(ctx)
        if wanted.isdisjoint(actual):
            return held
        return _FALSE

    return lacks
