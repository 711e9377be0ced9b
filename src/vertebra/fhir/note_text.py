"""Facts stated in free-text notes of single-patient FHIR input (``Condition.note``,
``Observation.note``), read by :mod:`vertebra.language.notes`.

Only what a note can say safely is read: red flags (night pain, weight loss, saddle
anaesthesia, ...) and the neurological examination (a deficit affirmed, or the whole
examination negated: "neurologically intact"). A fact that coded data already gives is never
changed by a note; where the note says something else, the notes say so. Every fact taken from a
note is listed with the resource and the sentence (:class:`~vertebra.plan.TextEvidence`, shown
as the plan's ``facts_from_text``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from vertebra.facts import RED_FLAGS
from vertebra.fhir.dates import parse_date
from vertebra.plan import TextEvidence

NOTE_TYPES = frozenset({"Condition", "Observation"})
_NOT_READ = {"refuted", "entered-in-error", "cancelled"}

__all__ = ["NOTE_TYPES", "NoteFacts", "note_texts", "read_note_facts"]


@dataclass
class NoteFacts:
    """Values to add (facts the coded data left unknown), their evidence, and notes."""

    values: dict[str, Any] = field(default_factory=dict)
    evidence: list[TextEvidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def note_texts(resource: Mapping[str, Any]) -> list[str]:
    """The ``note[].text`` of a resource (Annotation), as written."""
    notes = resource.get("note")
    if not isinstance(notes, list):
        return []
    return [n["text"] for n in notes if isinstance(n, dict) and isinstance(n.get("text"), str)]


def _label(resource: Mapping[str, Any]) -> str:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid if isinstance(rid, str) else '(no id)'}"


def _status(resource: Mapping[str, Any]) -> str | None:
    status = resource.get("status")
    if isinstance(status, str):
        return status
    for key in ("verificationStatus",):
        concept = resource.get(key)
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for c in codings if isinstance(codings, list) else []:
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                return str(c["code"])
    return None


def _when(resource: Mapping[str, Any]) -> date | None:
    for key in ("recordedDate", "effectiveDateTime", "issued", "onsetDateTime"):
        parsed = parse_date(resource.get(key))
        if parsed is not None:
            return parsed.latest
    return None


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def read_note_facts(resources: Iterable[Mapping[str, Any]], coded: Mapping[str, Any]) -> NoteFacts:
    """Read the notes of ``resources``; ``coded`` holds the facts coded data already gave (never
    changed). A refuted or entered-in-error resource's notes are not read."""
    from vertebra.language.notes import read_notes  # medspaCy only when a note is present

    out = NoteFacts()
    for resource in resources:
        texts = note_texts(resource)
        if not texts:
            continue
        label = _label(resource)
        if _status(resource) in _NOT_READ:
            out.notes.append(f"{label}: note not read (status {_status(resource)})")
            continue
        reading = read_notes(texts)
        for fact in reading.facts:
            name = fact.fact
            said = f'{label} note says "{fact.sentence}"'
            value: Any = reading.values[name]
            shown = fact.value  # one red flag, or the fact's value
            if coded.get(name) is not None:
                differs = (
                    fact.value not in coded[name]
                    if name == "red_flags" and fact.value != []
                    else fact.value != coded[name]
                )
                if differs:
                    out.notes.append(
                        f"{said} ({name} {_show(shown)}); the coded value "
                        f"{_show(coded[name])} is kept"
                    )
                continue
            earlier = out.values.get(name)
            if name == "red_flags" and earlier is not None:
                if value == [] and earlier:
                    out.notes.append(f"{said}; red flags an earlier note names are kept")
                    continue
                value = sorted(set(earlier) | set(value), key=RED_FLAGS.index)
            elif earlier is not None and earlier != value:
                if value is not True:  # a deficit affirmed anywhere is kept (the safe reading)
                    out.notes.append(
                        f"{said} ({name} {_show(value)}); an earlier note's "
                        f"{_show(earlier)} is kept"
                    )
                    continue
                out.notes.append(f"{said}: {name} true kept over an earlier note's false")
            out.values[name] = value
            out.evidence.append(
                TextEvidence(
                    resource=label,
                    date=_when(resource),
                    facts=[f"{name}: {_show(shown)}"],
                    levels=[],
                    acuity=None,
                    sentence=fact.sentence,
                )
            )
            out.notes.append(f"{name} {_show(shown)} from note text, not coded: {said}")
        for text, sentence, why in reading.unused:
            out.notes.append(f'{label} note: "{text}" in "{sentence}" not used ({why})')
        for d in reading.disagreements:
            out.notes.append(f"{label} notes disagree: {d}")
    return out
