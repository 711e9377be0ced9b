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
    pipeline run in batches), each distinct list of sentences is judged once, and only the
    candidates whose text yields a finding are turned into Python rows; the rest stays in
    Arrow. One process: the DuckDB engine runs this on a thread while its own threads scan the
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
    from vertebra.language.reports import read_sentences, triggered

    split = [triggered(t) for t in unique.to_pylist()]
    distinct = list(dict.fromkeys(s for ss in split for s in ss))
    by_sentence = dict(zip(distinct, read_sentences(distinct), strict=True))
    judged: dict[tuple[str, ...], list[Row]] = {}
    rows_of: list[list[Row]] = []
    for ss in split:
        key = tuple(ss)
        if key not in judged:
            judged[key] = _rows([by_sentence[s] for s in ss])
        rows_of.append(judged[key])
    # The candidates whose text gave rows (a few percent), in the candidates' order.
    position = pc.index_in(texts, value_set=unique)
    mask = pc.take(pa.array([bool(r) for r in rows_of], pa.bool_()), position)
    hits = candidates.filter(mask).append_column("position", position.filter(mask))
    cols: dict[str, list[object]] = {f.name: [] for f in FINDINGS_SCHEMA}
    seen: set[tuple[object, ...]] = set()
    for pid, rid, when, at in zip(
        hits.column("patient_id").to_pylist(),
        hits.column("report_id").to_pylist(),
        hits.column("event_date").to_pylist(),
        hits.column("position").to_pylist(),
        strict=True,
    ):
        for status, level, acuity, sentence in rows_of[at]:
            key = (pid, rid, status, level)
            if key in seen:  # a report's conclusion is repeated with each of its attachments
                continue
            seen.add(key)
            for name, value in zip(
                FINDINGS_SCHEMA.names,
                (pid, rid, when, status, level, acuity, sentence),
                strict=True,
            ):
                cols[name].append(value)
    return pa.table(cols, schema=FINDINGS_SCHEMA)
