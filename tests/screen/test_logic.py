"""The screening SQL split into statements: what DuckDB runs as written and Spark transpiles."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlglot
from sqlglot import exp

from vertebra.screen import logic

AS_OF = date(2025, 6, 30)


def test_statements_match_a_full_parse_of_the_file() -> None:
    """Split by DuckDB's parser, the statements are those sqlglot finds in the whole file:
    same names, same kinds, same SELECTs."""
    ours = logic.statements(AS_OF)
    trees = [t for t in sqlglot.parse(logic.render(AS_OF), read="duckdb") if t is not None]
    assert all(isinstance(t, exp.Create) for t in trees)
    assert [(s.name, s.materialise) for s in ours] == [
        (t.this.name, str(t.args.get("kind", "")).upper() == "TABLE") for t in trees
    ]
    for st, tree in zip(ours, trees, strict=True):
        assert sqlglot.parse_one(st.select, read="duckdb") == tree.expression


def test_each_statement_is_one_select_in_both_dialects() -> None:
    for st in logic.statements(AS_OF):
        assert st.sql("duckdb") == st.select
        assert not st.select.rstrip().endswith(";")
        assert len(sqlglot.transpile(st.sql("spark"), read="spark")) == 1
        assert st.sql("spark").lstrip().upper().startswith(("SELECT", "WITH"))


def test_anything_but_create_as_select_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        logic, "render", lambda _as_of: "CREATE TEMP TABLE a AS SELECT 1;\nDROP TABLE a;"
    )
    message = "only CREATE TEMP TABLE|VIEW name AS SELECT is allowed: DROP"
    with pytest.raises(ValueError, match=re.escape(message)):
        logic.statements(AS_OF)


def test_spark_gets_contains_for_a_regex_of_literal_words_and_duckdb_keeps_the_regex() -> None:
    """Java's regex engine is slow on an alternation of words; the Spark SQL tests each word
    with contains() instead (same rows), other regexes stay, DuckDB's SQL is as written."""
    (report,) = [s for s in logic.statements(date(2025, 1, 1)) if s.name == "report_texts"]
    spark = report.sql("spark")
    assert "RLIKE 'fractur|" not in spark
    assert "CONTAINS(ltext, 'fractur') OR CONTAINS(ltext, 'compressi')" in spark
    assert "RLIKE '/Patient/.'" in spark  # not literal words: kept
    assert "regexp_matches(ltext, 'fractur|" in report.sql("duckdb")
    kept = logic.Statement("x", False, "SELECT regexp_matches(t, 'a.c|b') FROM y")
    assert "RLIKE" in kept.sql("spark")
