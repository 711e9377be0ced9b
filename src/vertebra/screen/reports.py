"""The report-reading step of the screen, between the two halves of ``screen.sql``.

The SQL (both engines) picks the report texts that contain a trigger word
(``report_texts``); :func:`read_candidates` reads them with the one report reader
(:mod:`vertebra.language.reports`) and returns ``report_findings``, which the SQL joins to the
coded fractures. The engines call it the same way, so their outputs are identical.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from vertebra.language.reports import Mention

# The statement after which the engine reads the candidates, and the query that fetches them.
AFTER_STATEMENT = "report_texts"
CANDIDATES_SQL = (
    "SELECT patient_id, report_id, event_date, text FROM report_texts "
    "WHERE flag = 'ok' AND report_id IS NOT NULL AND text IS NOT NULL"
)
FINDINGS_TABLE = "report_findings"
FINDINGS_SCHEMA = pa.schema(
    [
        ("patient_id", pa.string()),
        ("report_id", pa.string()),
        ("event_date", pa.date32()),
        ("status", pa.string()),  # affirmed | uncertain
        ("level", pa.string()),  # one row per level; null when none is named
        ("acuity", pa.string()),
        ("sentence", pa.string()),
    ]
)

Reader = Callable[[pa.Table], pa.Table]
Row = tuple[str, str | None, str | None, str]


def _rows(mentions: list[Mention | None]) -> list[Row]:
    from vertebra.language.reports import reading

    r = reading(mentions)
    rows: list[Row] = []
    if r.verdict == "yes":
        sentence = r.evidence or ""
        levels: list[str | None] = list(r.levels) or [None]
        for level in levels:
            rows.append(("affirmed", level, r.acuity, sentence))
    elif r.verdict == "uncertain":
        first = next(m for m in r.mentions if m.status == "uncertain")
        rows.append(("uncertain", None, first.acuity, first.sentence))
    return rows


def read_candidates(candidates: pa.Table) -> pa.Table:
    """``report_findings`` for the candidate texts (patient_id, report_id, event_date, text):
    one row per level of each report that affirms a vertebral fracture, one row per report
    that leaves one uncertain. Deterministic: rows in the candidates' order.

    Reports repeat whole texts and, far more, sentences (at 1 M synthetic patients: 361,111
    candidate texts, 146,376 distinct, 2,206 distinct trigger sentences). So each distinct text
    is split into its trigger sentences, each distinct trigger sentence is read once (the
    pipeline run in batches), each distinct list of sentences is judged once, and the
    candidates are matched to their text's rows in Arrow (no Python row per candidate). One
    process: the DuckDB engine runs this on a thread while its own threads scan the
    coded resources (:class:`vertebra.screen.engines.DuckDBEngine`)."""
    from vertebra.language.reports import load

    texts = candidates.column("text")
    unique = pc.unique(texts)  # reports repeat whole texts ("No acute fracture.")
    if len(unique) == 0:
        return FINDINGS_SCHEMA.empty_table()
    # The pipeline (built by now on the preloading thread, else here) and every module are
    # long-lived: moved out of the collector's generations while the reading runs (gc.freeze),
    # the ~700 collections that its allocations trigger no longer traverse them (1.62 -> 1.46
    # CPU-s at 1 M patients). Unfrozen after, so that they are collected as before (at exit
    # too: nanobind, which DuckDB uses, reports objects still alive then as leaked).
    load()
    gc.freeze()
    try:
        return _read(candidates, texts, unique)
    finally:
        gc.unfreeze()


def _read(candidates: pa.Table, texts: pa.ChunkedArray, unique: pa.Array) -> pa.Table:
    from vertebra.language.reports import read_sentences, triggered_texts

    split = triggered_texts(unique.to_pylist())
    distinct = list(dict.fromkeys(s for ss in split for s in ss))
    by_sentence = dict(zip(distinct, read_sentences(distinct), strict=True))
    judged: dict[tuple[str, ...], list[Row]] = {}
    rows_of: list[list[Row]] = []
    for ss in split:
        key = tuple(ss)
        if key not in judged:
            judged[key] = _rows([by_sentence[s] for s in ss])
        rows_of.append(judged[key])
    # The rows of each distinct text, flat: text i's rows are flat[offsets[i]:offsets[i + 1]].
    offsets, flat = [0], []
    for rows in rows_of:
        flat.extend(rows)
        offsets.append(len(flat))
    if not flat:
        return FINDINGS_SCHEMA.empty_table()
    status, level, acuity, sentence = (list(c) for c in zip(*flat, strict=True))
    # The candidates whose text gave rows (a few percent), in the candidates' order, each
    # repeated once per row of its text (Arrow: list arrays taken and flattened, no Python rows).
    position = pc.index_in(texts, value_set=unique)
    per_text = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(range(len(flat)), pa.int32())
    )
    mask = pc.greater(pc.take(pc.list_value_length(per_text), position), 0)
    chosen = per_text.take(position.filter(mask).combine_chunks())
    row = pc.list_flatten(chosen)
    hits = candidates.filter(mask).take(pc.list_parent_indices(chosen))
    found = pa.table(
        {
            "patient_id": hits.column("patient_id"),
            "report_id": hits.column("report_id"),
            "event_date": hits.column("event_date"),
            "status": pc.take(pa.array(status, pa.string()), row),
            "level": pc.take(pa.array(level, pa.string()), row),
            "acuity": pc.take(pa.array(acuity, pa.string()), row),
            "sentence": pc.take(pa.array(sentence, pa.string()), row),
        }
    ).cast(FINDINGS_SCHEMA)
    # A report's conclusion is repeated with each of its attachments: keep the first row of
    # each (patient, report, status, level), in order.
    order = pa.array(range(found.num_rows), pa.int64())
    first = (
        found.select(["patient_id", "report_id", "status", "level"])
        .append_column("order", order)
        .group_by(["patient_id", "report_id", "status", "level"], use_threads=False)
        .aggregate([("order", "min")])
    )
    return found.filter(pc.is_in(order, value_set=first.column("order_min")))
