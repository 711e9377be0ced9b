"""Reading radiology report text for vertebral fractures: one implementation for the population
screen (in batch) and for single-patient FHIR intake.

Built on the clinical language module (:mod:`vertebra.language`): its normaliser, its level
parser (``T11-L1``, ``L1,2``, discs excluded) and its medspaCy pipeline with ConText, plus the
radiology target rules and ConText modifiers in ``data/reports.yaml``.

A report is split into sentences; only sentences that contain a trigger word (:data:`TRIGGER`,
the same regular expression the screen's SQL uses as a pre-filter) are read by medspaCy, and
each distinct sentence is read once per process (reports repeat sentences a great deal).

For each sentence with a vertebral fracture concept the reader decides:

- *vertebral*: a vertebral-specific concept (compression/wedge/biconcave/crush deformity,
  vertebra plana, loss of vertebral height, endplate depression, ...), or the word "fracture"
  in a sentence that names a level (T1-L5) or a vertebra, and no non-vertebral site (rib,
  clavicle, sacrum, transverse process, ...) unless a level or vertebra is named too;
- *status*: ``affirmed``, ``negated`` or ``uncertain`` (ConText);
- *levels* (T1-L5), a *region* when only a region is named ("midthoracic", "upper lumbar"),
  *acuity* (acute, chronic, old, healed, age_indeterminate) and a Genant *grade* when said.

A report is ``yes`` when any sentence affirms a vertebral fracture, else ``uncertain`` when
any sentence leaves one possible, else ``no``.
"""

from __future__ import annotations

import gc
import html
import importlib
import importlib.util
import re
import sys
import threading
import types
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vertebra import yamlfile
from vertebra.language.levels import parse_levels
from vertebra.language.normalise import normalise
from vertebra.language.pipeline import Finding, build, find, findings

Status = Literal["affirmed", "negated", "uncertain"]
Verdict = Literal["yes", "no", "uncertain"]
ACUITIES = ("age_indeterminate", "healed", "old", "chronic", "acute")  # most specific first
THORACOLUMBAR = (*(f"T{i}" for i in range(1, 13)), *(f"L{i}" for i in range(1, 6)))
_TL = frozenset(THORACOLUMBAR)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    literal: str
    category: Literal[
        "NEGATED_EXISTENCE",
        "POSSIBLE_EXISTENCE",
        "HISTORICAL",
        "HYPOTHETICAL",
        "PSEUDO",
        "TERMINATE",
    ]
    direction: Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "PSEUDO", "TERMINATE"]
    max_scope: int | None = None
    pattern: str | None = None


class ReportRules(_Strict):
    """``data/reports.yaml``: the radiology vocabulary (validated at load)."""

    known_words: list[str]
    section_headings: str
    trigger: str
    vertebral_concepts: dict[str, list[str]] = Field(min_length=1)
    generic_concepts: list[str]
    vertebra_words: str
    other_sites: str
    regions: dict[str, str]
    acuity: dict[str, str]
    acuity_blocked_by: str
    grades: dict[str, str]
    context: list[_Rule]


@cache
def rules() -> ReportRules:
    text = resources.files(__package__).joinpath("data").joinpath("reports.yaml")
    data = yamlfile.safe_load(text.read_text(encoding="utf-8"))
    loaded = ReportRules.model_validate(data)
    checked = [
        ("trigger", loaded.trigger),
        ("section_headings", loaded.section_headings),
        ("vertebra_words", loaded.vertebra_words),
        ("other_sites", loaded.other_sites),
        *loaded.regions.items(),
        *loaded.acuity.items(),
        *loaded.grades.items(),
    ]
    for name, rx in checked:
        try:
            re.compile(rx)
        except re.error as exc:
            raise ValueError(f"reports.yaml: {name}: not a regular expression ({exc})") from exc
    if not _TRIGGER_FORM.fullmatch(loaded.trigger):
        raise ValueError(
            "reports.yaml: trigger: lower-case words without spaces joined by '|' (the screen's "
            "SQL and triggered() rely on it)"
        )
    return loaded


#: The trigger's form: literal lower-case words (no spaces) joined by ``|``. Spark's SQL turns
#: it into CONTAINS tests, and :func:`triggered` tests a sentence before collapsing its
#: whitespace (a word without spaces matches the same either way).
_TRIGGER_FORM = re.compile(r"[a-z0-9-]+(\|[a-z0-9-]+)*")


def trigger() -> str:
    """The pre-filter: a sentence (or report) without a match cannot describe a vertebral
    fracture for this reader. Lower-case regular expression, RE2/Java compatible (the screen's
    SQL tests it on each text in any case, :func:`vertebra.screen.logic.any_case`, on DuckDB,
    and as ``CONTAINS(LOWER(text), word)`` on Spark)."""
    return rules().trigger


@dataclass(frozen=True)
class Mention:
    """One sentence that speaks of a vertebral fracture."""

    sentence: str
    status: Status
    levels: tuple[str, ...]
    region: str | None
    acuity: str | None
    grade: str | None


@dataclass
class ReportReading:
    """What a report says about vertebral fractures."""

    verdict: Verdict
    mentions: list[Mention] = field(default_factory=list)

    @property
    def affirmed(self) -> list[Mention]:
        return [m for m in self.mentions if m.status == "affirmed"]

    @property
    def levels(self) -> list[str]:
        found = {lv for m in self.affirmed for lv in m.levels}
        return [lv for lv in THORACOLUMBAR if lv in found]

    @property
    def acuity(self) -> str | None:
        """The most specific acuity any affirming sentence states."""
        said = {m.acuity for m in self.affirmed if m.acuity}
        return next((a for a in ACUITIES if a in said), None)

    @property
    def evidence(self) -> str | None:
        """The first affirming sentence, as written."""
        return self.affirmed[0].sentence if self.affirmed else None


_SPLIT = re.compile(
    # Every separator is white space and begins with a white-space character, written first so
    # that Python's matcher looks only at those (the look-behinds then see that character
    # too): 1.5x faster than the same alternation with each branch behind its look-behind,
    # and the same separators (tests/language/test_reports.py).
    r"\s(?:"
    # a sentence end before a capital, digit or bracket (not the "1." of a numbered item)
    r"(?<=[.!?]\s)(?<!\b\d\.\s)(?<!\b\d\d\.\s)\s*(?=[\[(\"'A-Z0-9*])"
    r"|(?<=\n)\s*\n"  # a blank line
    r"|(?<=\n)(?=\s*(?:\d+[.)]|[-*•])\s)"  # a numbered or bulleted item
    r"|(?<=\n)(?=[A-Z][A-Z /]+:)"  # a heading in capitals
    r")"
)
_TAGS = re.compile(r"<[^>]{0,2000}>")


def sentences(text: str) -> list[str]:
    """The report's sentences (and numbered or bulleted impression items), as written."""
    parts = (p.strip() for p in _SPLIT.split(text))
    return [" ".join(p.split()) for p in parts if p and not p.isspace()]


def strip_html(text: str) -> str:
    """Visible text of an HTML attachment (tags removed, entities decoded)."""
    return html.unescape(_TAGS.sub(" ", text))


_BUILD = threading.Lock()


def _nlp() -> Any:
    """The reader's pipeline, built once per process (a preloading thread and the reader may
    ask for it at the same time: one builds, the other waits).

    The cyclic garbage collector is paused while it is built: importing spaCy and medspaCy
    and building the pipeline allocate hundreds of thousands of long-lived objects, which set
    off collections that traverse them all and free nothing (0.56 -> 0.43 CPU-s from
    bytecode). Reference counting still frees everything else; collection resumes after."""
    with _BUILD:
        paused = gc.isenabled()
        gc.disable()
        try:
            return _build_nlp()
        finally:
            if paused:
                gc.enable()


#: Modules that medspaCy imports at start-up but the reader never uses: ``nltk``, imported by
#: ``quickumls.core``, which ``medspacy.util`` imports unconditionally; QuickUMLS uses it only
#: when a QuickUMLS matcher is built. About 0.4 CPU-s of the reader's ~2 CPU-s start.
#: (``pysbd``, the other unused one, cannot be deferred: spaCy loads its factory entry point.)
DEFERRED_IMPORTS = ("nltk",)


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module that medspaCy imports but the reader never uses;
    the first use of any of its attributes imports the real module, puts it in its place and
    answers from it. (The standard library's ``importlib.util.LazyLoader`` does not help here:
    on Python 3.11 an ``import name`` statement elsewhere reads the module's ``__spec__``,
    which runs the deferred module at once.)"""

    def __getattr__(self, attr: str) -> Any:
        with _DEFERRED_LOCK:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


_DEFERRED_LOCK = threading.RLock()


def _defer(name: str) -> None:
    """Defer ``name`` (see :class:`_Deferred`) unless it is imported already or not installed.
    medspaCy 1.3 has no way to skip these imports (its package ``__init__`` imports every
    component, and ``medspacy.util`` imports QuickUMLS), hence this workaround."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    sys.modules[name] = _Deferred(name)


@cache
def _build_nlp() -> Any:
    if "medspacy" not in sys.modules:
        for name in DEFERRED_IMPORTS:
            _defer(name)
    from medspacy.context import ConTextRule

    r = rules()
    concepts = {f"report_{k}": v for k, v in r.vertebral_concepts.items()}
    concepts["report_fracture"] = r.generic_concepts
    nlp = build(concepts)
    nlp.get_pipe("medspacy_context").add(
        [
            ConTextRule(
                literal=c.literal,
                category=c.category,
                direction=c.direction,
                max_scope=c.max_scope,
                pattern=c.pattern,
            )
            for c in r.context
        ]
    )
    return nlp


def load() -> None:
    """Build the reader's pipeline now (before forking workers, which then share it)."""
    _nlp()


@cache
def _compiled() -> dict[str, Any]:
    r = rules()
    return {
        "trigger": re.compile(r.trigger),
        "headings": re.compile(r.section_headings),
        "vertebra": re.compile(r.vertebra_words),
        "other": re.compile(r.other_sites),
        "regions": [(name, re.compile(rx)) for name, rx in r.regions.items()],
        "acuity": [(name, re.compile(rx)) for name, rx in r.acuity.items()],
        "blocked": re.compile(r.acuity_blocked_by),
        "grades": [(name, re.compile(rx)) for name, rx in r.grades.items()],
    }


_GENERIC = {"fracture", "report_fracture"}


def _is_vertebral(f: Finding) -> bool:
    own = f.label.startswith("report_") and f.label not in _GENERIC
    return own or f.label == "vertebral_fracture"


def _status(findings: Sequence[Finding]) -> Status:
    if any(f.affirmed for f in findings):
        return "affirmed"
    if any(f.uncertain and not f.negated for f in findings):
        return "uncertain"
    return "negated"


def _acuity(text: str) -> str | None:
    c = _compiled()
    found = set()
    for name, rx in c["acuity"]:
        for m in rx.finditer(text):
            if not c["blocked"].search(text[max(0, m.start() - 20) : m.start()]):
                found.add(name)
    return next((a for a in ACUITIES if a in found), None)


def _prepared(sentence: str) -> str | None:
    """The sentence as the pipeline reads it (normalised, section heading dropped), or None
    when it has no trigger word left."""
    c = _compiled()
    text = normalise(sentence, known=rules().known_words).text
    while (head := c["headings"].match(text)) is not None and head.end() > 0:
        text = text[head.end() :]
    return text if c["trigger"].search(text) else None


def _mention(sentence: str, text: str, found_all: Sequence[Finding]) -> Mention | None:
    """The mention in ``sentence`` (``text``: as prepared) from the pipeline's findings."""
    c = _compiled()
    found = [f for f in found_all if f.label in _GENERIC or _is_vertebral(f)]
    if not found:
        return None
    levels = tuple(lv for m in parse_levels(text) if not m.disc for lv in m.levels if lv in _TL)
    vertebra_named = bool(levels) or bool(c["vertebra"].search(text))
    other_site = bool(c["other"].search(text))
    specific = [f for f in found if _is_vertebral(f)]
    generic = [f for f in found if f.label in _GENERIC]
    region = next((name for name, rx in c["regions"] if rx.search(text)), None)
    if specific and (not other_site or vertebra_named):
        relevant = specific + (generic if vertebra_named else [])
    elif generic and vertebra_named and not other_site:
        relevant = generic
    else:
        return None
    grade = next((name for name, rx in c["grades"] if rx.search(text)), None)
    ordered = tuple(dict.fromkeys(lv for lv in THORACOLUMBAR if lv in set(levels)))
    return Mention(
        sentence=sentence,
        status=_status(relevant),
        levels=ordered,
        region=None if ordered else region,
        acuity=_acuity(text),
        grade=grade,
    )


@lru_cache(maxsize=200_000)
def read_sentence(sentence: str) -> Mention | None:
    """The vertebral-fracture mention in one sentence, or None (cached per distinct sentence)."""
    text = _prepared(sentence)
    if text is None:
        return None
    return _mention(sentence, text, find(text, _nlp()))


def read_sentences(sentences: Sequence[str], batch_size: int = 256) -> list[Mention | None]:
    """:func:`read_sentence` of each sentence (the same mentions), for the screen, which reads
    many distinct sentences: the pipeline runs once per distinct prepared text (sentences that
    differ only in a section heading or in case read alike) and in batches (``nlp.pipe``)."""
    prepared = [_prepared(s) for s in sentences]
    texts = list(dict.fromkeys(t for t in prepared if t is not None))
    found: dict[str, list[Finding]] = {}
    if texts:
        with warnings.catch_warnings():
            # the concept rules are regular expressions, so spaCy's token matcher has none
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            for text, doc in zip(texts, _nlp().pipe(texts, batch_size=batch_size), strict=True):
                found[text] = findings(doc)
    return [
        None if t is None else _mention(s, t, found[t])
        for s, t in zip(sentences, prepared, strict=True)
    ]


def triggered(text: str) -> list[str]:
    """The sentences of a report's text that contain a trigger word (the only ones that can
    speak of a vertebral fracture), as written."""
    pre = _compiled()["trigger"]
    # As sentences() but a part is tested before its whitespace is collapsed (the same result:
    # trigger words have no spaces, see _TRIGGER_FORM), so only the few triggered parts of a
    # report are collapsed. One report at a time (read_report); the screen reads its many
    # candidate texts with triggered_texts(), which the tests compare with this function.
    out = []
    for part in _SPLIT.split(text):
        if pre.search(part.lower()):
            out.append(" ".join(part.split()))
    return out


def triggered_texts(texts: Iterable[str]) -> list[list[str]]:
    """:func:`triggered` of each text (the same lists), for the screen, which splits every
    distinct candidate text: reports are assembled from few distinct parts (at 1 M synthetic
    patients 146,376 distinct texts split into 2,812 distinct parts), so each distinct part is
    tested for a trigger word and collapsed once, and a text costs only its split."""
    pre = _compiled()["trigger"]
    split = _SPLIT.split
    seen: dict[str, str | None] = {}  # part -> its collapsed form, None without a trigger word
    out = []
    for text in texts:
        kept = []
        for part in split(text):
            try:
                said = seen[part]
            except KeyError:
                said = seen[part] = " ".join(part.split()) if pre.search(part.lower()) else None
            if said is not None:
                kept.append(said)
        out.append(kept)
    return out


def reading(mentions: Iterable[Mention | None]) -> ReportReading:
    """A report's reading from its sentences' mentions (``None`` for a sentence without one)."""
    found = [m for m in mentions if m is not None]
    if any(m.status == "affirmed" for m in found):
        verdict: Verdict = "yes"
    elif any(m.status == "uncertain" for m in found):
        verdict = "uncertain"
    else:
        verdict = "no"
    return ReportReading(verdict, found)


def read_report(text: str, content_type: str | None = None) -> ReportReading:
    """Read one report's text (``text/html`` is stripped to its visible text first)."""
    if content_type and content_type.lower().startswith("text/html"):
        text = strip_html(text)
    return reading(read_sentence(s) for s in triggered(text))


def read_reports(texts: Iterable[str]) -> list[ReportReading]:
    """:func:`read_report` over many texts (distinct sentences are read once)."""
    return [read_report(t) for t in texts]
