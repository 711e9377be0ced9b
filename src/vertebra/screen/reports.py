"""The report-reading step of the screen, between the two halves of ``screen.sql``.

The SQL (both engines) picks the report texts that contain a trigger word
(``report_texts``); :func:`read_candidates` reads them with the one report reader
(:mod:`vertebra.language.reports`) and returns ``report_findings``, which the SQL joins to the
coded fractures. The engines call it the same way, so their outputs are identical.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import pyarrow as pa

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
# Above this many candidate texts, the reading is spread over worker processes.
PARALLEL_FROM = 20_000

Reader = Callable[[pa.Table], pa.Table]

def _read_texts(texts: list[str]) -> list[list[tuple[str, str | None, str | None, str]]]:
    from vertebra.language.reports import read_report

    out: list[list[tuple[str, str | None, str | None, str]]] = []
    for text in texts:
        r = read_report(text)
        rows: list[tuple[str, str | None, str | None, str]] = []
        if r.verdict == "yes":
            sentence = r.evidence or ""
            levels: list[str | None] = list(r.levels) or [None]
            for level in levels:
                rows.append(("affirmed", level, r.acuity, sentence))
        elif r.verdict == "uncertain":
            first = next(m for m in r.mentions if m.status == "uncertain")
            rows.append(("uncertain", None, first.acuity, first.sentence))
        out.append(rows)
    return out


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def read_candidates(candidates: pa.Table, workers: int | None = None) -> pa.Table:
    """``report_findings`` for the candidate texts (patient_id, report_id, event_date, text):
    one row per level of each report that affirms a vertebral fracture, one row per report
    that leaves one uncertain. Deterministic: rows in the candidates' order."""
    texts = candidates.column("text").to_pylist()
    unique = list(dict.fromkeys(texts))  # reports repeat whole texts ("No acute fracture.")
    n_workers = workers if workers is not None else _workers()
    if n_workers > 1 and len(unique) >= PARALLEL_FROM:
        from vertebra.language.reports import load

        load()  # build the pipeline once here; forked workers inherit it
        size = -(-len(unique) // (n_workers * 4))
        chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
        with ProcessPoolExecutor(n_workers) as pool:
            read = [r for part in pool.map(_read_texts, chunks) for r in part]
    else:
        read = _read_texts(unique)
    by_text = dict(zip(unique, read, strict=True))
    results = [by_text[t] for t in texts]
    pids = candidates.column("patient_id").to_pylist()
    rids = candidates.column("report_id").to_pylist()
    dates = candidates.column("event_date").to_pylist()
    cols: dict[str, list[object]] = {f.name: [] for f in FINDINGS_SCHEMA}
    seen: set[tuple[object, ...]] = set()
    for pid, rid, when, rows in zip(pids, rids, dates, results, strict=True):
        for status, level, acuity, sentence in rows:
            key = (pid, rid, status, level)
            if key in seen:  # a report's conclusion is repeated with each of its attachments
                continue
            seen.add(key)
            for name, value in zip(FINDINGS_SCHEMA.names,
                                   (pid, rid, when, status, level, acuity, sentence),
                                   strict=True):  # fmt: skip
                cols[name].append(value)
    return pa.table(cols, schema=FINDINGS_SCHEMA)
