"""Matching FHIR codings against the shipped value sets, and reporting what did not match."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from vertebra import terminology
from vertebra.terminology import Code


class UnmappedCode(BaseModel):
    """A code vertebra saw and did not use: reported, never guessed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resource_type: str
    resource_id: str | None
    system: str | None
    code: str | None
    display: str | None
    why: str


@dataclass(frozen=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None


def codings(concept: Any) -> list[Coding]:
    """The codings of a CodeableConcept; tolerant of missing or malformed parts."""
    if not isinstance(concept, dict):
        return []
    out: list[Coding] = []
    items = concept.get("coding")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        system, code, display = item.get("system"), item.get("code"), item.get("display")
        out.append(
            Coding(
                system if isinstance(system, str) else None,
                code.strip() if isinstance(code, str) else None,
                display if isinstance(display, str) else None,
            )
        )
    return out


def concept_text(concept: Any) -> str | None:
    if isinstance(concept, dict) and isinstance(concept.get("text"), str):
        text: str = concept["text"]
        return text
    return None


@dataclass(frozen=True)
class Match:
    valueset: str
    entry: Code
    coding: Coding


def match(coding: Coding, valuesets: tuple[str, ...]) -> Iterator[Match]:
    """Every value set (in the order given) that knows this coding."""
    for vs_id, entry in _entries(coding.system, coding.code, valuesets):
        yield Match(vs_id, entry, coding)


@lru_cache(maxsize=4096)
def _entries(
    system: str | None, code: str | None, valuesets: tuple[str, ...]
) -> tuple[tuple[str, Code], ...]:
    """The value sets knowing ``system``/``code``, with their entry (value sets are immutable
    data, so the answer is cached: a Bundle repeats the same codes many times)."""
    found = []
    for vs_id in valuesets:
        entry = terminology.load(vs_id).find(system, code)
        if entry is not None:
            found.append((vs_id, entry))
    return tuple(found)


@lru_cache(maxsize=256)
def ingredient_code(drug: str) -> Code | None:
    """The RxNorm ingredient entry for a vocabulary drug name, if a value set has one (cached:
    the value sets are immutable data)."""
    wanted = drug.replace("_", " ")
    for vs_id in ("osteoporosis-medication", "analgesic-medication"):
        for entry in terminology.load(vs_id).codes:
            if (
                entry.system == terminology.RXNORM
                and entry.maps_to == drug
                and entry.display.lower() == wanted
            ):
                return entry
    return None
