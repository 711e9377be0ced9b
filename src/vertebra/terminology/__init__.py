"""Code value sets (ICD-10-CM, SNOMED CT, LOINC, RxNorm, WHO ATC) kept as reviewed data files.

Each file in ``valuesets/`` is one value set::

    id: vertebral-fracture
    title: Vertebral fragility fracture
    references: [clinical-sources-codes]       # bibliography ids
    codes:
      - {system: http://hl7.org/fhir/sid/icd-10-cm, code: M80.08, display: "...", match: prefix}
        # optional per-code keys: match (exact|prefix), level (T1..L5), maps_to (a vocabulary
        # word such as a drug or condition name), mechanism (osteoporotic|not_stated), note

Unknown keys are rejected at load time. Codes the sets do not know are never guessed.
"""

from __future__ import annotations

import re
from functools import cache, cached_property
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebra import yamlfile
from vertebra.facts import ALLERGY_CLASSES, DRUGS, MEDICINES

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
YESNO = "http://terminology.hl7.org/CodeSystem/v2-0136"


def _norm(system: str, code: str) -> str:
    return code.replace(".", "").upper() if system == ICD10CM else code


class Code(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    code: str
    display: str
    match: Literal["exact", "prefix"] = "exact"
    level: str | None = None
    maps_to: str | None = None
    # What the code itself says about the fracture's cause: ``osteoporotic`` (the code defines
    # a fragility fracture), ``not_stated`` (injury chapter: the mechanism is not stated).
    mechanism: Literal["osteoporotic", "not_stated"] | None = None
    note: str | None = None

    def matches(self, system: str | None, code: str | None) -> bool:
        if system != self.system or not code:
            return False
        norm = code.replace(".", "").upper() if self.system == ICD10CM else code
        mine = self.code.replace(".", "").upper() if self.system == ICD10CM else self.code
        return norm.startswith(mine) if self.match == "prefix" else norm == mine


_Key = tuple[str, str]  # (system, normalised code)


class ValueSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    references: list[str]
    codes: list[Code]

    @cached_property
    def _index(self) -> tuple[dict[_Key, Code], dict[_Key, tuple[int, Code]], frozenset[int]]:
        """Exact entries by (system, normalised code); prefix entries by (system, normalised
        prefix) with their position in the file (the first of several matching prefixes wins),
        and the prefix lengths present. A lookup then costs one dict probe per prefix length
        instead of a scan of every prefix entry (a 1,900-Condition Bundle made 100,000 scans)."""
        exact: dict[_Key, Code] = {}
        prefixes: dict[_Key, tuple[int, Code]] = {}
        for position, c in enumerate(self.codes):
            if c.match == "exact":
                exact.setdefault((c.system, _norm(c.system, c.code)), c)
            else:
                prefixes.setdefault((c.system, _norm(c.system, c.code)), (position, c))
        return exact, prefixes, frozenset(len(key[1]) for key in prefixes)

    def find(self, system: str | None, code: str | None) -> Code | None:
        """The first entry matching ``system``/``code`` (exact entries before prefixes; among
        prefixes, the first in the file that the code starts with: :meth:`Code.matches`)."""
        if system is None or not code:
            return None
        exact, prefixes, lengths = self._index
        norm = _norm(system, code)
        entry = exact.get((system, norm))
        if entry is not None:
            return entry
        best: tuple[int, Code] | None = None
        for length in lengths:
            if length > len(norm):
                continue
            found = prefixes.get((system, norm[:length]))
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        return best[1] if best is not None else None


@cache
def load(valueset_id: str) -> ValueSet:
    """Load and validate one value set by id (the file name without ``.yaml``)."""
    path = resources.files(__package__).joinpath("valuesets", f"{valueset_id}.yaml")
    data = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    vs = ValueSet.model_validate(data)
    if vs.id != valueset_id:
        raise ValueError(f"value set file {valueset_id}.yaml declares id {vs.id!r}")
    return vs


def available() -> list[str]:
    """Ids of every shipped value set, sorted."""
    folder = resources.files(__package__).joinpath("valuesets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


# --------------------------------------------------------------------------- names (free text)


class _NameEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str]
    systemic_only: bool = False
    not_with: list[str] = []


class _NamesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    local_routes: list[str]
    words: dict[str, _NameEntry]


class MedicineNames:
    """Vocabulary words by name (``medicine-names.yaml``), for text without a known code.
    Every allowed word is also known by its own name. Lookups are by whole-word n-grams of the
    normalised text; results are cached per (text, allowed words)."""

    def __init__(
        self,
        names: dict[str, str],
        systemic_only: frozenset[str],
        local_routes: frozenset[str],
        not_with: dict[str, frozenset[str]],
        spelled: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.names = names  # normalised name -> vocabulary word
        self.spelled = spelled or {}
        """vocabulary word -> its names as written in the file, its own name first
        ("zoledronic_acid" -> ("zoledronic acid", "zoledronate", "aclasta", ...))"""
        self.systemic_only = systemic_only
        self.local_routes = local_routes
        self.not_with = not_with
        self._tables: dict[tuple[str, ...], tuple[dict[tuple[str, ...], str], int]] = {}
        self._found: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self._local: dict[str, bool] = {}

    def _table(self, allowed: tuple[str, ...]) -> tuple[dict[tuple[str, ...], str], int]:
        table = self._tables.get(allowed)
        if table is None:
            wanted = set(allowed)
            grams = {tuple(n.split()): w for n, w in self.names.items() if w in wanted}
            for word in allowed:
                grams.setdefault(tuple(normalise(word).split()), word)
            table = (grams, max((len(g) for g in grams), default=0))
            self._tables[allowed] = table
        return table

    def words_in(self, text: str | None, allowed: tuple[str, ...]) -> list[str]:
        """Vocabulary words (from ``allowed``) named in ``text``, by whole words, in order of
        first mention. A word that is ``systemic_only`` is skipped when the text names a local
        route (cream, inhaler, eye drops ...), and a word is skipped when the text holds one of
        its ``not_with`` words."""
        if not text:
            return []
        cached = self._found.get((text, allowed))
        if cached is not None:
            return list(cached)
        tokens = normalise(text).split()
        present = set(tokens)
        local = bool(self.local_routes & present)
        grams, longest = self._table(allowed)
        found: dict[str, None] = {}
        for i in range(len(tokens)):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                word = grams.get(tuple(tokens[i : i + n]))
                if word is None or word in found:
                    continue
                if local and word in self.systemic_only:
                    continue
                if self.not_with.get(word, frozenset()) & present:
                    continue
                found[word] = None
        if len(self._found) < 8192:
            self._found[(text, allowed)] = tuple(found)
        return list(found)

    def local_route(self, text: str | None) -> bool:
        """Whether ``text`` names a local (non-systemic) route."""
        if not text:
            return False
        local = self._local.get(text)
        if local is None:
            local = bool(self.local_routes & set(normalise(text).split()))
            if len(self._local) < 8192:
                self._local[text] = local
        return local


_NOT_ALNUM = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Lower case, every run of characters other than letters and digits read as one space."""
    return _NOT_ALNUM.sub(" ", text.lower()).strip()


@cache
def medicine_names() -> MedicineNames:
    """The names file, validated: unknown keys rejected, every word a word of the facts
    vocabulary (a drug, a medicine or class of ``medications``, an allergy class), no name given
    to two words. The one list of medicine names: FHIR intake, CDS Hooks draft orders and the
    question reader (``vertebra ask``: extraction and retrieval synonyms) and the clinical
    language module (brands read as ingredients) all read it."""
    path = resources.files(__package__).joinpath("medicine-names.yaml")
    return parse_medicine_names(path.read_text(encoding="utf-8"))


def parse_medicine_names(text: str) -> MedicineNames:
    """Validate a medicine-names file (see :func:`medicine_names`); raises ``ValueError`` (a
    pydantic ``ValidationError`` for unknown keys) naming the entry."""
    data = _NamesFile.model_validate(yamlfile.safe_load(text))
    known = set(DRUGS) | set(MEDICINES) | set(ALLERGY_CLASSES)
    unknown = sorted(set(data.words) - known)
    if unknown:
        raise ValueError(f"medicine-names.yaml: words not in the facts vocabulary: {unknown}")
    pairs: dict[str, str] = {}
    for word, entry in data.words.items():
        for name in (word.replace("_", " "), *entry.names):
            key = normalise(name)
            if pairs.setdefault(key, word) != word:
                raise ValueError(
                    f"medicine-names.yaml: {name!r} names both {pairs[key]} and {word}"
                )
    return MedicineNames(
        names=pairs,
        systemic_only=frozenset(w for w, e in data.words.items() if e.systemic_only),
        local_routes=frozenset(normalise(r) for r in data.local_routes),
        not_with={
            w: frozenset(map(normalise, e.not_with)) for w, e in data.words.items() if e.not_with
        },
        spelled={
            w: (w.replace("_", " "), *(data.words[w].names if w in data.words else ()))
            for w in sorted(known)
        },
    )
