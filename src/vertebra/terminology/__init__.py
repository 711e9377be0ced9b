"""Code value sets (ICD-10-CM, SNOMED CT, LOINC, RxNorm) kept as reviewed data files.

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

from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebra import yamlfile

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


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


class ValueSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    references: list[str]
    codes: list[Code]

    def find(self, system: str | None, code: str | None) -> Code | None:
        """The first entry matching ``system``/``code`` (exact entries before prefixes)."""
        for entry in sorted(self.codes, key=lambda c: c.match != "exact"):
            if entry.matches(system, code):
                return entry
        return None


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
