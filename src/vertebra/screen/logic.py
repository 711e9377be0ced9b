"""The screening logic as data: the SQL file (rendered with Jinja) and the value-set codes table.

``screen.sql`` is DuckDB SQL. :func:`statements` splits it with DuckDB's own parser; each engine
runs the same statements, the Spark engine after transpiling them to Spark SQL with sqlglot.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

import jinja2

from vertebra import terminology
from vertebra.screen.config import FlsDefinition, load_definition

CODE_COLUMNS: tuple[str, ...] = (
    "category",
    "system",
    "code",
    "match_kind",
    "site",
    "site_rank",
    "level",
    "drug",
)


@dataclass(frozen=True)
class Statement:
    """One ``CREATE TEMP TABLE|VIEW name AS SELECT ...`` of the logic."""

    name: str
    materialise: bool
    select: str  # the SELECT, DuckDB SQL as written in screen.sql

    def sql(self, dialect: str) -> str:
        """The SELECT in ``dialect`` (as written for DuckDB; transpiled by sqlglot otherwise)."""
        if dialect == "duckdb":
            return self.select
        import logging

        import sqlglot

        # DuckDB's try() has no Spark equivalent (Spark decodes leniently): sqlglot drops it and
        # logs "Unsupported TRY function", which is expected here.
        log = logging.getLogger("sqlglot")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            tree = sqlglot.parse_one(self.select, read="duckdb")
            if dialect == "spark":
                tree = tree.transform(_literal_alternation_as_contains)
            return tree.sql(dialect=dialect)
        finally:
            log.setLevel(level)


_LITERAL = re.compile(r"[a-z0-9 -]+")


def _literal_alternation_as_contains(node: Any) -> Any:
    """Spark: ``regexp_matches(x, 'fractur|wedg|…')`` with only literal words becomes
    ``(contains(x, 'fractur') OR contains(x, 'wedg') OR …)``: the same rows (an alternation of
    literals matches exactly when one of its words occurs), but Java's regex engine tries every
    alternative at every position and took about 5 s of the 10 s of ``report_texts`` at 200k
    patients; DuckDB's RE2 is faster with the regex, so the DuckDB SQL keeps it. The same for
    an alternation of lower-case words in any case (:func:`any_case`):
    ``(contains(lower(x), 'fractur') OR …)`` (Spark computes ``lower(x)`` once per row)."""
    from sqlglot import exp

    if not (isinstance(node, exp.RegexpLike) and isinstance(node.expression, exp.Literal)):
        return node
    pattern = str(node.expression.this)
    subject = node.this.copy()
    lower_words = _ANY_CASE_CLASS.sub(lambda m: m.group(1), pattern)
    if lower_words != pattern and any_case(lower_words) == pattern:
        pattern, subject = lower_words, exp.Lower(this=subject)
    words = pattern.split("|")
    if not all(_LITERAL.fullmatch(w) for w in words):
        return node
    tests: list[exp.Expression] = [
        exp.Anonymous(this="CONTAINS", expressions=[subject.copy(), exp.Literal.string(w)])
        for w in words
    ]
    return exp.Paren(this=functools.reduce(lambda a, b: exp.Or(this=a, expression=b), tests))


#: The code points that DuckDB's ``lower()`` maps to an ASCII letter besides its capital: the
#: capital I with dot above and the Kelvin sign (tests/screen/test_logic.py checks every code
#: point against the installed DuckDB).
LOWERS_TO_ASCII = {"i": "\u0130", "k": "\u212a"}
_ANY_CASE_CLASS = re.compile(r"\[([a-z])[A-Z][^\]]*\]")


def any_case(words: str) -> str:
    """The alternation of lower-case words ``words`` (``fractur|wedg``) as a regular
    expression that matches a text exactly where the words match its ``lower()``:
    ``[fF][rR]…|[wW][eE]…``, each letter with every code point that lowers to it. The screen's
    SQL tests report texts with it: RE2 then needs no lower-cased copy of each text
    (``report_texts`` at 1 M patients: 2.25 -> 2.07 CPU-s, mean of six runs each)."""
    return "".join(
        f"[{c}{c.upper()}{LOWERS_TO_ASCII.get(c, '')}]" if "a" <= c <= "z" else c for c in words
    )


def parameters(as_of: date, definition: FlsDefinition | None = None) -> dict[str, object]:
    d = definition or load_definition()
    persistence = d.indicator("medication_at_52_weeks")
    return {
        "as_of": as_of.isoformat(),
        "min_age": d.population.min_age,
        "episode_days": d.windows.episode_days,
        "current_drug_lookback_days": d.windows.current_drug_lookback_days,
        "dxa_days": d.indicator("dxa_within_12_weeks").window_days,
        "medication_days": d.indicator("medication_started_within_16_weeks").window_days,
        "persistence_days": persistence.window_days,
        "persistence_from_days": persistence.persistence_from_days,
        "persistence_to_days": persistence.persistence_to_days,
        "code_head": code_head(d),
        "report_trigger_any_case": any_case(_report_trigger()),
    }


def _report_trigger() -> str:
    from vertebra.language.reports import trigger

    rx = trigger()
    if "'" in rx or "\\" in rx:
        raise ValueError("reports.yaml trigger: no quotes or backslashes (it goes into SQL)")
    return rx


def code_head(definition: FlsDefinition | None = None) -> int:
    """Length of the fracture-code prefix used as the equi-join key of the value-set join.

    Every fracture code (exact or prefix) is at least this long, so a coding can only match
    value-set codes that share its first ``code_head`` characters.
    """
    return min(len(str(r[2])) for r in code_rows(definition) if r[0] == "fracture")


def render(as_of: date) -> str:
    """The SQL text with parameters filled in (DuckDB dialect)."""
    text = (
        resources.files(__package__)
        .joinpath("sql")
        .joinpath("screen.sql")
        .read_text(encoding="utf-8")
    )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(text).render(**parameters(as_of))


_CREATE = re.compile(r"CREATE\s+TEMP\s+(TABLE|VIEW)\s+(\w+)\s+AS\s+(SELECT\b.*|WITH\b.*)", re.S)


def _without_comment_lines(query: str) -> str:
    """The statement without its whole-line ``--`` comments and blank lines.

    Where a splitter puts the comments between two statements is its own detail (DuckDB 1.x
    appended them to the statement before, 2.0.1 prepends them to the next one), so every
    comment line is dropped wherever it is.
    """
    kept = [ln for ln in query.splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
    return "\n".join(kept).strip().rstrip(";").strip()


def statements(as_of: date) -> list[Statement]:
    """The rendered SQL as statements (names and SELECTs), split by DuckDB's parser."""
    import duckdb

    out: list[Statement] = []
    for st in duckdb.extract_statements(render(as_of)):
        m = _CREATE.fullmatch(_without_comment_lines(st.query))
        if m is None and not _without_comment_lines(st.query):
            continue  # a statement of comments only
        if m is None:
            raise ValueError(
                f"screen.sql: only CREATE TEMP TABLE|VIEW name AS SELECT is allowed: "
                f"{_without_comment_lines(st.query)[:80]}"
            )
        out.append(Statement(m.group(2), m.group(1) == "TABLE", m.group(3)))
    return out


def _norm(system: str, code: str) -> str:
    return code.replace(".", "").upper() if system == terminology.ICD10CM else code


def code_rows(definition: FlsDefinition | None = None) -> list[tuple[object, ...]]:
    """The value sets screening uses, as rows of ``vs_codes`` (see CODE_COLUMNS)."""
    if definition is None:
        return list(_packaged_code_rows())
    return list(_code_rows(definition))


@functools.cache
def _packaged_code_rows() -> tuple[tuple[object, ...], ...]:
    return _code_rows(load_definition())


def _code_rows(d: FlsDefinition) -> tuple[tuple[object, ...], ...]:
    ranks = {site: i for i, site in enumerate(d.site_order)}
    rows: dict[tuple[str, str, str], tuple[object, ...]] = {}

    def add(category: str, vs_id: str, site_of: str | None = None, drug: bool = False) -> None:
        for c in terminology.load(vs_id).codes:
            site = site_of or c.maps_to if category == "fracture" else None
            rank = ranks.get(site, len(ranks)) if site else None
            row = (
                category,
                c.system,
                _norm(c.system, c.code),
                c.match,
                site,
                rank,
                c.level,
                c.maps_to if drug else None,
            )
            rows[(category, c.system, _norm(c.system, c.code))] = row

    add("fracture", d.value_sets.vertebral_fracture, site_of="vertebral")
    # Listed after the vertebral set so that a code in both takes this set's site.
    add("fracture", d.value_sets.other_fracture)
    add("medication", d.value_sets.medication, drug=True)
    add("dxa_scan", d.value_sets.dxa_scan)
    add("dxa_t_score", d.value_sets.dxa_t_score)
    add("egfr", d.value_sets.egfr)
    return tuple(sorted(rows.values(), key=lambda r: tuple(str(x) for x in r)))
