"""The column-at-a-time worklist steps give what the row-at-a-time definitions give.

``per_combination`` and the Arrow forms of the levels, gaps, counts and preview are compared,
on generated tables (nulls, duplicates, odd values, several pieces), with a plain Python loop
over the rows calling the same definitions.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from vertebra.facts import LEVELS
from vertebra.screen import labels
from vertebra.screen.distinct import per_combination
from vertebra.screen.gaps import REPORTED_NOT_CODED, coded_gaps
from vertebra.screen.pipeline import (
    COLUMNS,
    GAP_INPUTS,
    WORKLIST_SCHEMA,
    Tally,
    _levels,
    _levels_column,
    finish_rows,
)
from vertebra.screen.report import PREVIEW_ROWS, Preview

maybe_bool = st.none() | st.booleans()
maybe_drug = st.none() | st.sampled_from(["alendronate", "denosumab", "zoledronate", ""])
level_lists = st.none() | st.lists(
    st.none() | st.sampled_from([*LEVELS, "C2", "t12", "T12;L1", ""]), max_size=5
)
GAP_CHOICES = [
    None,
    "",
    "no_dxa_within_12_weeks",
    f"{REPORTED_NOT_CODED};patient_record_missing",
    f"x{REPORTED_NOT_CODED}",
    "patient_record_missing;no_current_osteoporosis_medication",
]


@given(
    st.lists(
        st.tuples(maybe_bool, maybe_drug, st.none() | st.integers(-2, 2)), min_size=0, max_size=60
    )
)
def test_per_combination_is_the_function_applied_to_every_row(
    rows: list[tuple[bool | None, str | None, int | None]],
) -> None:
    table = pa.table(
        {
            "flag": pa.array([r[0] for r in rows], pa.bool_()),
            "drug": pa.array([r[1] for r in rows], pa.string()),
            "n": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    calls: list[tuple[Any, ...]] = []

    def fn(v: dict[str, Any]) -> str:
        calls.append((v["flag"], v["drug"], v["n"]))
        return f"{v['flag']}|{v['drug']}|{v['n']}"

    got = per_combination(table, ["flag", "drug", "n"], fn, pa.string()).to_pylist()
    assert got == [f"{f}|{d}|{n}" for f, d, n in rows]
    assert len(calls) == len(set(calls)) == len(set(rows))  # once per distinct combination


@given(st.lists(level_lists, max_size=40), st.integers(1, 7))
def test_levels_column_is_levels_of_every_row(values: list[Any], chunk: int) -> None:
    array = pa.array(values, pa.list_(pa.string()))
    chunked = pa.chunked_array(
        [array.slice(i, chunk) for i in range(0, len(values), chunk)] or [array]
    )
    expected = [_levels(v) for v in values]
    assert _levels_column(array, len(values)).to_pylist() == expected
    assert _levels_column(chunked, len(values)).to_pylist() == expected


def _rows(draw: st.DrawFn, most: int = 40) -> pa.Table:
    n = draw(st.integers(0, most))
    start = date(2024, 1, 1)

    def dates() -> list[date | None]:
        return [
            None if draw(st.booleans()) else start + timedelta(days=draw(st.integers(0, 400)))
            for _ in range(n)
        ]

    columns: dict[str, pa.Array] = {
        name: pa.array([draw(maybe_drug if t == pa.string() else maybe_bool) for _ in range(n)], t)
        for name, t in GAP_INPUTS.items()
    }
    columns["fracture_levels"] = pa.array(
        [draw(level_lists) for _ in range(n)], pa.list_(pa.string())
    )
    columns["index_fracture_site"] = pa.array(
        [draw(st.none() | st.sampled_from(["", "hip", "vertebral"])) for _ in range(n)]
    )
    columns["found_by"] = pa.array(
        [draw(st.none() | st.sampled_from(["coded", "report_text", "other"])) for _ in range(n)]
    )
    columns["index_fracture_date"] = pa.array(dates(), pa.date32())
    columns["medication_start_date"] = pa.array(dates(), pa.date32())
    return pa.table(columns)


@st.composite
def engine_rows(draw: st.DrawFn) -> pa.Table:
    return _rows(draw)


class NoSafetyGaps:
    """Stands in for PlanGaps: the drug-safety gaps are the plan engine's (tested elsewhere)."""

    errors = 0

    def many(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        return [[f"avoid:{r['current_drug']}:rule"] if r["fracture_levels"] else [] for r in rows]


@settings(max_examples=60)
@given(engine_rows())
def test_finished_rows_follow_the_row_definitions(raw: pa.Table) -> None:
    got = finish_rows(raw, NoSafetyGaps()).to_pylist()  # type: ignore[arg-type]
    for row, out in zip(raw.to_pylist(), got, strict=True):
        assert out["fracture_levels"] == _levels(row["fracture_levels"])
        assert out["gaps"] == ";".join(coded_gaps(row))
        levels = _levels(row["fracture_levels"])
        expected = f"avoid:{row['current_drug']}:rule" if levels else ""
        assert out["plan_safety_gaps"] == (expected if row["current_drug"] is not None else "")


def _worklist(draw: st.DrawFn) -> pa.Table:
    raw = _rows(draw)
    finished = finish_rows(raw, NoSafetyGaps())  # type: ignore[arg-type]
    gaps = [draw(st.sampled_from(GAP_CHOICES)) for _ in range(raw.num_rows)]
    return finished.set_column(COLUMNS.index("gaps"), "gaps", pa.array(gaps, pa.string()))


@st.composite
def worklists(draw: st.DrawFn) -> list[pa.Table]:
    return [_worklist(draw) for _ in range(draw(st.integers(1, 3)))]


def _reference_tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    flags = (
        "vertebral_fracture",
        "dxa_within_12_weeks",
        "medication_started_within_16_weeks",
        "medication_at_52_weeks",
    )
    sites: dict[str, int] = {}
    for r in rows:
        sites[r["index_fracture_site"] or "unknown"] = (
            sites.get(r["index_fracture_site"] or "unknown", 0) + 1
        )
    with_drug = [r for r in rows if r["current_drug"] is not None]
    return {
        "rows": len(rows),
        "true": {f: sum(1 for r in rows if r[f] is True) for f in flags},
        "evaluable": {f: sum(1 for r in rows if r[f] is not None) for f in flags},
        "with_drug": len(with_drug),
        "drug_gap": sum(1 for r in with_drug if r["plan_safety_gaps"]),
        "not_coded": sum(
            1 for r in rows if r["gaps"] and REPORTED_NOT_CODED in r["gaps"].split(";")
        ),
        "sites": sites,
        "found_by": {
            k: sum(1 for r in rows if r["found_by"] == k)
            for k in ("coded", "report_text", "coded+report_text")
        },
        "days_to_treatment": sorted(
            (r["medication_start_date"] - r["index_fracture_date"]).days
            for r in rows
            if r["medication_start_date"] is not None and r["index_fracture_date"] is not None
        ),
    }


@settings(max_examples=60)
@given(worklists())
def test_tally_counts_what_a_loop_over_the_rows_counts(pieces: list[pa.Table]) -> None:
    tally = Tally()
    for piece in pieces:
        tally.add(piece)
    got = dict(vars(tally))
    got["days_to_treatment"] = sorted(got["days_to_treatment"])
    rows = [r for piece in pieces for r in piece.to_pylist()]
    assert got == _reference_tally(rows)


SAFETY_CHOICES = [None, "", "avoid:alendronate:renal", "contraindicated:denosumab:allergy"]


@settings(max_examples=60)
@given(
    st.lists(  # longer than the preview, in pieces longer and shorter than it
        st.tuples(st.sampled_from(GAP_CHOICES), st.sampled_from(SAFETY_CHOICES)),
        min_size=PREVIEW_ROWS // 2,
        max_size=3 * PREVIEW_ROWS,
    ),
    st.integers(1, 3 * PREVIEW_ROWS),
)
def test_preview_is_the_first_rows_by_priority(
    pairs: list[tuple[str | None, str | None]], size: int
) -> None:
    whole = pa.Table.from_pylist(
        [
            {**dict.fromkeys(COLUMNS), "patient_id": str(i), "gaps": g, "plan_safety_gaps": s}
            for i, (g, s) in enumerate(pairs)
        ],
        schema=WORKLIST_SCHEMA,
    )
    pieces = [whole]
    preview = Preview(list(COLUMNS))
    for piece in pieces:
        for start in range(0, piece.num_rows, size):
            preview.add(piece.slice(start, size))
    assert preview.total_rows == whole.num_rows
    expected = labels.by_priority(whole.to_pylist())[:PREVIEW_ROWS]
    assert preview.preview == expected
