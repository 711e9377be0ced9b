"""The retrieval index over the knowledge base's own statements (built once, cached).

Statements: every decision-table row (title, detail, dose, cautions, annotation, condition),
every drug-safety row (reason, alternative), every conflict (summary, and each source's
position) and every derived fact's description. Scored with BM25 (``bm25s``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import bm25s
import numpy as np

from vertebra.ask.text import expand, stem, tokens, words
from vertebra.knowledge import KnowledgeBase, load

logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Statement:
    """One citable statement of the knowledge base."""

    id: str
    kind: str  # row | safety | conflict | position | derived
    title: str
    text: str
    citations: tuple[str, ...]
    category: str | None = None
    action: str | None = None
    drugs: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    dose: str | None = None
    cautions: tuple[str, ...] = ()
    condition: str | None = None
    urgency: str | None = None
    row_id: str | None = None


@dataclass(frozen=True)
class Index:
    kb: KnowledgeBase
    statements: tuple[Statement, ...]
    by_id: dict[str, Statement]
    retriever: bm25s.BM25
    vocab: dict[str, int]
    known: frozenset[str]

    def scores(self, query: str) -> np.ndarray:
        ids = [self.vocab[t] for t in tokens(query, drop_question_words=True) if t in self.vocab]
        if not ids:
            return np.zeros(len(self.statements), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(ids), dtype=np.float32)

    def search(self, query: str, k: int = 8) -> list[tuple[Statement, float]]:
        scores = self.scores(query)
        if not scores.any():
            return []
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.statements[i], float(scores[i])) for i in order if scores[i] > 0]


def _statements(kb: KnowledgeBase) -> list[Statement]:
    out: list[Statement] = []
    for table in kb.tables:
        for row in table.rows:
            then = row.row.then
            out.append(
                Statement(
                    id=row.row.id,
                    kind="row",
                    title=then.title,
                    text=then.detail,
                    citations=tuple(row.row.references),
                    category=then.category,
                    action=then.action,
                    drugs=(then.drug,) if then.drug else (),
                    conflicts=tuple(then.conflicts),
                    dose=then.dose,
                    cautions=tuple(then.cautions),
                    condition=row.text,
                    urgency=then.urgency,
                    row_id=row.row.id,
                )
            )
    for srow in kb.safety_rows:
        names = ", ".join(kb.drug_name(d) for d in srow.row.drugs) or "procedures"
        # Dose-adjustment and caution rows change how a drug is given, not whether: "consider".
        blocking = srow.row.action in ("avoid", "contraindicated")
        out.append(
            Statement(
                id=srow.row.id,
                kind="safety",
                title=f"{srow.row.action.capitalize()}: {names}",
                text=srow.row.reason,
                citations=tuple(srow.row.references),
                action=srow.row.action if blocking else "consider",
                drugs=tuple(srow.row.drugs),
                cautions=(f"Alternative: {srow.row.alternative}",) if srow.row.alternative else (),
                condition=srow.text,
            )
        )
    for c in kb.conflicts.values():
        out.append(
            Statement(
                id=f"conflict:{c.id}",
                kind="conflict",
                title=c.topic,
                text=c.summary,
                citations=tuple(dict.fromkeys(p.source for p in c.positions)),
                conflicts=(c.id,),
            )
        )
        for p in c.positions:
            out.append(
                Statement(
                    id=f"conflict:{c.id}:{p.source}",
                    kind="position",
                    title=c.topic,
                    text=p.position,
                    citations=(p.source,),
                    conflicts=(c.id,),
                )
            )
    for d in kb.derived:
        out.append(
            Statement(
                id=f"derived:{d.spec.name}",
                kind="derived",
                title=d.spec.label,
                text=d.spec.description,
                citations=tuple(d.spec.references),
            )
        )
    return out


def _document(s: Statement, kb: KnowledgeBase, annotation: str, table: str) -> str:
    parts = [s.title, s.title, s.text, s.dose or "", *s.cautions, s.condition or ""]
    parts += [annotation, table]
    parts += [kb.drug_name(d) for d in s.drugs]
    return " ".join(p for p in parts if p)


@cache
def index() -> Index:
    """The index over the shipped knowledge base (built on first use)."""
    kb = load()
    statements = _statements(kb)
    notes = {r.row.id: (r.row.annotation, t.table.title) for t in kb.tables for r in t.rows}
    corpus: list[list[str]] = []
    for s in statements:
        annotation, table = notes.get(s.row_id or "", ("", ""))
        corpus.append(tokens(_document(s, kb, annotation, table)) or ["_"])
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    vocab = {str(k): int(v) for k, v in retriever.vocab_dict.items()}
    known: set[str] = {t for doc in corpus for t in doc}
    for src in kb.sources:
        known.update(stem(w) for w in words(expand(f"{src.title} {src.organisation} {src.id}")))
    return Index(
        kb=kb,
        statements=tuple(statements),
        by_id={s.id: s for s in statements},
        retriever=retriever,
        vocab=vocab,
        known=frozenset(known),
    )
