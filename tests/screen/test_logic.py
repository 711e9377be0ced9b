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
    assert "CONTAINS(LOWER(text), 'fractur') OR CONTAINS(LOWER(text), 'compressi')" in spark
    assert "RLIKE '/Patient/.'" in spark  # not literal words: kept
    assert f"regexp_matches(text, '{logic.any_case('fractur')}|" in report.sql("duckdb")
    kept = logic.Statement("x", False, "SELECT regexp_matches(t, 'a.c|b') FROM y")
    assert "RLIKE" in kept.sql("spark")


def test_any_case_matches_where_duckdbs_lower_matches_for_every_code_point() -> None:
    """``regexp_matches(text, any_case(words))`` (the screen's trigger test) selects the same
    texts as ``regexp_matches(lower(text), words)``: DuckDB's lower() maps each code point to
    one code point, so it is enough that each letter's class holds exactly the code points
    that lower() maps to that letter, and that nothing lowers to a digit or '-' but itself."""
    import duckdb

    assert logic.any_case("end-plate|l5") == "[eE][nN][dD]-[pP][lL][aA][tT][eE]|[lL]5"
    con = duckdb.connect()
    # Every code point but the surrogates (not characters; DuckDB 1.3's chr() refuses them even
    # where a WHERE clause would drop them, so they are never generated).
    code_points = "(SELECT * FROM range(55296) UNION ALL SELECT * FROM range(57344, 1114112)) t(i)"
    points = con.execute(
        f"SELECT chr(i::INTEGER) AS c, lower(chr(i::INTEGER)) AS l FROM {code_points}"
    ).fetchall()
    assert all(len(low) == 1 for _, low in points)
    lowers_to: dict[str, set[str]] = {low: set() for low in "abcdefghijklmnopqrstuvwxyz0123456789-"}
    for c, low in points:
        if low in lowers_to:
            lowers_to[low].add(c)
    for letter, chars in lowers_to.items():
        rx = logic.any_case(letter)
        matched = {
            c
            for (c,) in con.execute(
                f"SELECT c FROM (SELECT chr(i::INTEGER) AS c FROM {code_points}) "
                "WHERE regexp_full_match(c, ?)",
                [rx],
            ).fetchall()
        }
        assert matched == chars, letter


@pytest.mark.parametrize(
    "text",
    [
        "No FRACTURE.",
        "Wedge deformity",
        "COMPRESS\u0130ON",  # capital I with dot above: lower() gives 'i'
        "\u212aYPHOPLASTY",  # Kelvin sign: lower() gives 'k'
        "compre\u017f\u017fion",  # long s: RE2's (?i) would take it, lower() keeps it
        "end-plate",
        "END PLATE",
        "Height loss",
        "nothing here",
        "",
    ],
)
def test_report_trigger_in_any_case_agrees_with_lower(text: str) -> None:
    import duckdb

    trigger = logic.parameters(date(2025, 1, 1))["report_trigger_any_case"]
    words = logic._ANY_CASE_CLASS.sub(lambda m: m.group(1), str(trigger))
    con = duckdb.connect()
    same, lowered = con.execute(
        "SELECT regexp_matches(?, ?), regexp_matches(lower(?), ?)", [text, trigger, text, words]
    ).fetchone() or (None, None)
    assert same == lowered
