"""A Python function applied once per distinct combination of column values, spread to rows.

The worklist's derived columns (care gaps, fracture levels, priority) are defined in Python, one
row at a time, where a clinician or maintainer can read them. A population worklist repeats the
same few combinations of their inputs tens of thousands of times, so :func:`per_combination`
groups the rows by those inputs in Arrow (nulls form their own group), calls the function on
each group's values once and puts the answers back in row order: same result as calling it for
every row, without a Python step per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_ROW = "__row"


def per_combination(
    table: pa.Table | pa.RecordBatch,
    names: Sequence[str],
    fn: Callable[[dict[str, Any]], Any],
    type: pa.DataType,
) -> pa.Array:
    """``fn(values)`` for each row of ``table``, where ``values`` maps each of ``names`` to the
    row's value; ``fn`` is called once per distinct combination, in order of first appearance.
    Columns must be groupable by Arrow (not lists or structs)."""
    n = table.num_rows
    if n == 0:
        return pa.array([], type=type)
    keyed = pa.table(
        [table.column(name) for name in names] + [pa.array(range(n), type=pa.int64())],
        names=[*names, _ROW],
    )
    groups = keyed.group_by(list(names), use_threads=False).aggregate([(_ROW, "list")])
    rows = groups.column(f"{_ROW}_list").combine_chunks()
    answers = pa.array([fn(values) for values in groups.select(list(names)).to_pylist()], type)
    # Each group's answer repeated for its rows, then from group order back to row order (the
    # flattened row numbers are a permutation of 0..n-1; sorting them inverts it).
    spread = answers.take(pc.list_parent_indices(rows))
    return spread.take(pc.sort_indices(pc.list_flatten(rows)))
