"""The medspaCy pipeline: a blank English spaCy pipeline (no model to download), a sentence
splitter, medspaCy's target matcher (concept rules from the lexicon plus the caller's) and
ConText (medspaCy's default English modifiers plus the lexicon's), optionally the sectionizer."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from vertebra.language.lexicon import lexicon

# PyRuSH (imported by medspaCy) logs every sentence at DEBUG through loguru; silence it.
logging.getLogger("PyRuSH").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Finding:
    """A concept found in the text with its ConText: negated ("no weakness"), uncertain
    ("?mets"), historical, hypothetical ("if weakness develops") or about a relative."""

    label: str
    text: str
    start: int
    end: int
    negated: bool
    uncertain: bool
    historical: bool
    hypothetical: bool
    family: bool
    section: str | None = None

    @property
    def affirmed(self) -> bool:
        """Present in this patient now: not negated, uncertain, hypothetical or a relative's."""
        return not (self.negated or self.uncertain or self.hypothetical or self.family)


def _quiet_loguru() -> None:
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - loguru comes with PyRuSH
        return
    logger.disable("PyRuSH")


def _text_once(component: Any, owner: str) -> None:
    """medspaCy's regular-expression matcher recomputes ``doc.text_with_ws`` (a Python loop
    over every token) once per pattern per document; with ~60 concept patterns that was ~85 %
    of the reader's time. Swap in a subclass that computes the text once per document and
    otherwise does exactly what medspaCy's does (same spans, same order)."""
    from medspacy.common.regex_matcher import RegexMatcher

    matcher = getattr(component, f"_{owner}__matcher", None)
    regex = getattr(matcher, "_MedspacyMatcher__regex_matcher", None)
    if type(regex) is RegexMatcher:
        regex.__class__ = _one_text_class()


def _one_text_call(self: Any, doc: Any) -> list[tuple[int, int, int]]:
    from medspacy.common.util import get_token_for_char

    matches: list[tuple[int, int, int]] = []
    if not self._patterns:
        return matches
    text = doc.text_with_ws
    for match_id, patterns in self._patterns.items():
        on_match = self._callbacks[match_id]
        for pattern in patterns:
            for re_match in pattern.finditer(text):
                span = doc.char_span(re_match.start(), re_match.end())
                if span is None:
                    start = get_token_for_char(doc, re_match.start(), resolve=self.resolve_start)
                    end = get_token_for_char(doc, re_match.end(), resolve=self.resolve_end)
                    span = doc[start.i : len(doc) if end is None else end.i]
                if len(span):
                    matches.append((match_id, span.start, span.end))
                if on_match is not None:
                    on_match(self, doc, len(matches) - 1, matches)
    return matches


@cache
def _one_text_class() -> type:
    from medspacy.common.regex_matcher import RegexMatcher

    return type("_OneTextRegexMatcher", (RegexMatcher,), {"__call__": _one_text_call})


def build(concepts: Mapping[str, Sequence[str]] | None = None, *, sections: bool = False) -> Any:
    """A new pipeline that finds the lexicon's concepts and ``concepts`` (label -> regular
    expressions on the normalised lower-case text), with ConText; ``sections=True`` adds
    medspaCy's sectionizer (default clinical section titles)."""
    _quiet_loguru()
    import spacy
    from medspacy.context import ConText, ConTextRule
    from medspacy.target_matcher import TargetMatcher, TargetRule

    lx = lexicon()
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    matcher: TargetMatcher = nlp.add_pipe("medspacy_target_matcher")
    rules = []
    for label, patterns in {**lx.concepts, **(concepts or {})}.items():
        rules += [TargetRule(literal=p, category=label, pattern=p) for p in patterns]
    matcher.add(rules)
    _text_once(matcher, "TargetMatcher")
    context: ConText = nlp.add_pipe("medspacy_context", config={"rules": "default"})
    context.add(
        [
            ConTextRule(
                literal=r.literal,
                category=r.category,
                direction=r.direction,
                max_scope=r.max_scope,
            )
            for r in lx.context
        ]
    )
    if sections:
        nlp.add_pipe("medspacy_sectionizer", config={"rules": "default"})
    return nlp


@cache
def pipeline(sections: bool = False) -> Any:
    """The shared pipeline with the lexicon's concepts (built once per process)."""
    return build(sections=sections)


def findings(doc: Any) -> list[Finding]:
    """The concepts of a processed ``doc`` with their ConText attributes."""
    out: list[Finding] = []
    for ent in doc.ents:
        section = ent._.section_category if ent.has_extension("section_category") else None
        out.append(
            Finding(
                label=ent.label_,
                text=ent.text,
                start=ent.start_char,
                end=ent.end_char,
                negated=bool(ent._.is_negated),
                uncertain=bool(ent._.is_uncertain),
                historical=bool(ent._.is_historical),
                hypothetical=bool(ent._.is_hypothetical),
                family=bool(ent._.is_family),
                section=section,
            )
        )
    return out


def find(text: str, nlp: Any | None = None) -> list[Finding]:
    """Run ``nlp`` (default :func:`pipeline`) over already normalised ``text``."""
    with warnings.catch_warnings():
        # the concept rules are regular expressions, so spaCy's token matcher has no patterns
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        return findings((nlp or pipeline())(text))


def labels(found: Iterable[Finding]) -> set[str]:
    """The labels of the affirmed findings."""
    return {f.label for f in found if f.affirmed}


# ----------------------------------------------------------------------------- concept sets


@cache
def _context_only() -> Any:
    """Sentencizer + ConText over the span group ``targets`` (overlapping targets allowed)."""
    _quiet_loguru()
    import spacy
    from medspacy.context import ConText, ConTextRule

    lx = lexicon()
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    context: ConText = nlp.add_pipe(
        "medspacy_context",
        config={"rules": "default", "input_span_type": "group", "span_group_name": "targets"},
    )
    context.add(
        [
            ConTextRule(
                literal=r.literal,
                category=r.category,
                direction=r.direction,
                max_scope=r.max_scope,
            )
            for r in lx.context
        ]
    )
    return nlp


class ConceptSet:
    """Concepts as regular expressions (label -> patterns); :meth:`find` returns every match,
    overlapping ones included ("saddle anaesthesia" is a deficit and a red flag), each with its
    ConText. Use this when one phrase can mean several things; :func:`build` when it cannot."""

    def __init__(self, concepts: Mapping[str, Sequence[str]]) -> None:
        import re

        self._patterns = [
            (label, re.compile(p)) for label, patterns in concepts.items() for p in patterns
        ]

    def find(self, text: str) -> list[Finding]:
        from spacy.tokens import Span

        hits: dict[tuple[str, int, int], None] = {}
        for label, pattern in self._patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    hits[(label, m.start(), m.end())] = None
        if not hits:
            return []
        if not _may_modify(text):
            return [
                Finding(label, text[a:b], a, b, False, False, False, False, False)
                for label, a, b in sorted(hits, key=lambda h: (h[1], h[2]))
            ]
        nlp = _context_only()
        doc = nlp.make_doc(text)
        spans = []
        kept: list[tuple[int, int]] = []
        for label, start, end in hits:
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is not None:
                spans.append(Span(doc, span.start, span.end, label=label))
                kept.append((start, end))
        doc.spans["targets"] = spans
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            for _, proc in nlp.pipeline:
                doc = proc(doc)
        out = []
        # the regular expression's own extent (spans are widened to whole tokens)
        for span, (start, end) in zip(doc.spans["targets"], kept, strict=True):
            out.append(
                Finding(
                    label=span.label_,
                    text=text[start:end],
                    start=start,
                    end=end,
                    negated=bool(span._.is_negated),
                    uncertain=bool(span._.is_uncertain),
                    historical=bool(span._.is_historical),
                    hypothetical=bool(span._.is_hypothetical),
                    family=bool(span._.is_family),
                )
            )
        out.sort(key=lambda f: (f.start, f.end))
        return out


@cache
def _triggers() -> frozenset[str] | None:
    """Every word that can start a ConText modifier (terminations and pseudo-modifiers aside);
    ``None`` when some rule is a regular expression and no such list can be made."""
    context = _context_only().get_pipe("medspacy_context")
    words: set[str] = set()
    for rule in context.rules:
        if rule.direction in ("TERMINATE", "PSEUDO"):
            continue
        pattern = rule.pattern
        if pattern is None:
            words.add(rule.literal.lower().split()[0])
            continue
        if isinstance(pattern, str):
            return None
        for token in pattern:  # the first token's words; an optional token adds the next one's
            low = token.get("LOWER")
            if isinstance(low, str):
                words.add(low.lower())
            elif isinstance(low, dict) and "IN" in low:
                words.update(str(w).lower() for w in low["IN"])
            else:
                return None
            if token.get("OP") not in ("?", "*"):
                break
    return frozenset(words)


def _may_modify(text: str) -> bool:
    """False when no ConText modifier can occur in ``text`` (then every target is affirmed and
    the spaCy pass is skipped). A question mark ending the text modifies nothing."""
    triggers = _triggers()
    if triggers is None:
        return True
    import re

    tokens = re.findall(r"[a-z0-9']+|[^\sa-z0-9]", text.rstrip(" ?.!"))
    return any(t in triggers for t in tokens)
