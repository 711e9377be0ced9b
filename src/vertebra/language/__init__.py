"""Clinical language: questions, notes and reports read the way clinicians write them.

One module for every reader of free text in vertebra (``vertebra ask``, FHIR intake of notes and
report conclusions, the screening pipeline's report reading). It is built on medspaCy (a blank
English spaCy pipeline: nothing is downloaded at run time) and a lexicon kept as validated data
(``data/lexicon.yaml``). Every step is linear in the input, and input beyond
``lexicon().max_chars`` is cut (``Reading.truncated`` says so).

Public API (stable):

``read(text, today=None, *, known=(), nlp=None) -> Reading``
    Everything at once: ``Reading.text`` (normalised), ``levels`` (vertebrae, spinal order),
    ``level_mentions``, ``age`` (:class:`Age`, :class:`Unreadable` or ``None``), ``findings``
    (concepts with ConText), ``corrections`` (typos), ``medicines`` (brand -> ingredient).
``normalise(text, today=None, known=()) -> Normalised``
    Lower case; abbreviations ("#", "VCF", "SOB", "VP/KP", "known prostate ca") spelled out;
    brands as ingredients (Prolia -> denosumab); ``3/52`` -> "3 weeks", ``2/12`` -> "2 months",
    "last Tuesday" -> "6 days ago" against ``today``; typos corrected within a distance limit.
``parse_levels(text) -> list[LevelMention]`` and ``vertebral_levels(text, allowed=None)``
    ``T11-L1`` = T11, T12, L1; ``L1,2,4``; ``D12`` = T12; "lumbar one"; "thoracic vertebra 12";
    ``L4/5 disc`` is a disc (``LevelMention.disc``), not a vertebra; "T2 weighted" is not a level.
``read_age(text)`` on normalised text
    "81F", "78 yo M", "She's 84", "in her 80s" (a range: ``Age(80, 89)``), "octogenarian",
    "8 yo boy", "teen"; an age cue without a readable number is :class:`Unreadable`.
``pipeline(sections=False)`` / ``build(concepts=None, *, sections=False)``
    The medspaCy pipeline: sentencizer, target matcher (the lexicon's ``concepts`` plus the
    caller's label -> regular expressions), ConText (medspaCy's default English rules plus the
    lexicon's), optionally the sectionizer. ``find(text, nlp=None) -> list[Finding]`` runs it
    over normalised text; each :class:`Finding` has ``negated``, ``uncertain``, ``historical``,
    ``hypothetical``, ``family``, ``section`` and ``affirmed``.
``ConceptSet(concepts).find(text)``
    The same with overlapping concepts allowed (one phrase, several meanings): every regular
    expression match becomes a ConText target.

Example::

    >>> r = read("81F, T11-L1 wedge #s, no neuro deficit, ?mets")
    >>> r.levels, (r.age.low, r.age.high)
    (['T11', 'T12', 'L1'], (81, 81))
"""

from __future__ import annotations

from vertebra.language.ages import Age, Unreadable, read_age
from vertebra.language.levels import SPINE, LevelMention, parse_levels, vertebral_levels
from vertebra.language.lexicon import Lexicon, LexiconError, lexicon
from vertebra.language.normalise import Normalised, normalise
from vertebra.language.pipeline import ConceptSet, Finding, build, find, findings, pipeline
from vertebra.language.reader import Reading, read

__all__ = [
    "SPINE",
    "Age",
    "ConceptSet",
    "Finding",
    "LevelMention",
    "Lexicon",
    "LexiconError",
    "Normalised",
    "Reading",
    "Unreadable",
    "build",
    "find",
    "findings",
    "lexicon",
    "normalise",
    "parse_levels",
    "pipeline",
    "read",
    "read_age",
    "vertebral_levels",
]
