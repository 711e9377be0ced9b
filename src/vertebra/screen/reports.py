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
from contextlib import nullcontext
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa

if TYPE_CHECKING:
    from vertebra.language.reports import Mention

T = TypeVar("T")
U = TypeVar("U")

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
# Above this many distinct candidate texts, splitting them into sentences is spread over worker
# processes; above this many distinct trigger sentences, so is reading them.
PARALLEL_FROM = 20_000
PARALLEL_SENTENCES_FROM = 5_000

Reader = Callable[[pa.Table], pa.Table]
Row = tuple[str, str | None, str | None, str]


def _split(texts: list[str]) -> list[list[str]]:
    from vertebra.language.reports import triggered

    return [triggered(t) for t in texts]


def _read_sentences(sentences: list[str]) -> list[Mention | None]:
    from vertebra.language.reports import read_sentence

    return [read_sentence(s) for s in sentences]


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


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _spread(
    fn: Callable[[list[T]], list[U]], items: list[T], pool: ProcessPoolExecutor | None, n: int
) -> list[U]:
    if pool is None:
        return fn(items)
    size = max(1, -(-len(items) // (n * 4)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    return [r for part in pool.map(fn, chunks) for r in part]


def read_candidates(candidates: pa.Table, workers: int | None = None) -> pa.Table:
    """``report_findings`` for the candidate texts (patient_id, report_id, event_date, text):
    one row per level of each report that affirms a vertebral fracture, one row per report
    that leaves one uncertain. Deterministic: rows in the candidates' order.

    Reports repeat whole texts and, far more, sentences: the distinct texts are split into
    their trigger sentences, and each distinct trigger sentence is read once."""
    from vertebra.language.reports import load

    texts = candidates.column("text").to_pylist()
    unique = list(dict.fromkeys(texts))  # reports repeat whole texts ("No acute fracture.")
    if not unique:
        return FINDINGS_SCHEMA.empty_table()
    n_workers = workers if workers is not None else _workers()
    parallel = n_workers > 1 and len(unique) >= PARALLEL_FROM
    load()  # build the pipeline once here; forked workers inherit it
    with ProcessPoolExecutor(n_workers) if parallel else nullcontext() as pool:
        split = _spread(_split, unique, pool, n_workers)
        distinct = list(dict.fromkeys(s for ss in split for s in ss))
        many = len(distinct) >= PARALLEL_SENTENCES_FROM
        mentions = _spread(_read_sentences, distinct, pool if many else None, n_workers)
    by_sentence = dict(zip(distinct, mentions, strict=True))
    read = [_rows([by_sentence[s] for s in ss]) for ss in split]
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
            for name, value in zip(
                FINDINGS_SCHEMA.names,
                (pid, rid, when, status, level, acuity, sentence),
                strict=True,
            ):
                cols[name].append(value)
    return pa.table(cols, schema=FINDINGS_SCHEMA)
