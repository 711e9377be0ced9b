"""FHIR intake of the v2 patient facts (contract §1 "Added in v2").

Kept apart from :mod:`vertebra.fhir.inbound`, which calls in here for each resource and once at
the end (:func:`finish`). Every mapping comes from a value set (``terminology/valuesets``) or, for
medicines and allergies whose codes no set knows, from the names file
(``terminology/medicine-names.yaml``); every match by name is reported in the notes.

Unknown is not "no": the absence of a prescription, an allergy or a condition in a record leaves
the fact unknown. Only a positive statement fills a negative value:

- ``medications = []`` and ``osteoporosis_drug = "none"`` only from a recorded "no known
  medications" (IPS absent-unknown code ``no-known-medications`` on a MedicationStatement);
- ``allergies = []`` only from a recorded "no known allergy" (SNOMED CT 716186003);
- ``pregnant = false`` / ``breastfeeding = false`` only from a recent status observation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from vertebra import knowledge, terminology
from vertebra.facts import ALLERGY_CLASSES, BONE_DRUGS, DRUGS, MEDICINES
from vertebra.fhir.codes import Coding, Match, codings, concept_text, match
from vertebra.fhir.dates import parse_date
from vertebra.fhir.resources import Resource

MEDICATION_SET = "current-medication"
BONE_SET = "osteoporosis-medication"
ALLERGY_SETS = ("allergy-substance", "osteoporosis-medication", "analgesic-medication")
CONDITION_SETS = ("vte", "pregnancy", "falls", "medication-use", "immobility")
STATUS_SET = "pregnancy-status"
ALLERGENS: tuple[str, ...] = (*DRUGS, *ALLERGY_CLASSES)
NO_INFO_SYSTEM = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
NO_KNOWN_MEDICATIONS = "no-known-medications"
NO_KNOWN_ALLERGIES = "no-known-allergies"
# How long a status observation stays current (a data-freshness choice, not a clinical claim):
# "pregnant" for a full-term pregnancy (42 weeks), "not pregnant" and breastfeeding for 30 days.
FRESH_DAYS = {
    ("pregnant", True): 294,
    ("pregnant", False): 30,
    ("breastfeeding", True): 30,
    ("breastfeeding", False): 30,
}
_MED_CURRENT = {"active"}
_NO_DOSE = {"entered-in-error", "cancelled", "draft", "not-taken", "not-done", "stopped-before"}
_GIVEN = {"completed", "in-progress"}

Report = Callable[[Resource, Coding | None, str], None]


def _group(name: str) -> frozenset[str]:
    """A group of bone drugs from ``medicines.yaml`` (``bone_drug_groups``): the oral
    bisphosphonates (an intolerance of one is not an allergy), the long-interval injections
    (the time since the last dose is read)."""
    return knowledge.load().bone_drug_group(name)


@dataclass
class _Status:
    when: date | None
    value: bool
    source: str


@dataclass
class V2State:
    """What the v2 intake collected for one patient."""

    today: date
    report: Report
    notes: list[str] = field(default_factory=list)
    medications: dict[str, str] = field(default_factory=dict)  # word -> where from
    # drug, day, rank (0 administered, 1 statement, 2 prescription date), source
    doses: list[tuple[str, date, int, str]] = field(default_factory=list)
    allergies: dict[str, str] = field(default_factory=dict)
    no_known_allergy: str | None = None
    no_known_medications: str | None = None
    active_records: list[str] = field(default_factory=list)  # any active medicine record
    conditions: set[str] = field(default_factory=set)
    vte: list[str] = field(default_factory=list)
    status: dict[str, list[_Status]] = field(default_factory=dict)
    falls: dict[date, str] = field(default_factory=dict)
    immobilised: list[str] = field(default_factory=list)
    other_administrations: int = 0


def label(resource: Resource) -> str:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid if isinstance(rid, str) else '(no id)'}"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(concept: Any, found: list[Coding] | None = None) -> list[str]:
    out = [c.display for c in (codings(concept) if found is None else found) if c.display]
    text = concept_text(concept)
    return [text, *out] if text else out


def _route_texts(resource: Resource) -> list[str]:
    out: list[str] = []
    dosage = resource.get("dosageInstruction") or resource.get("dosage")
    for item in dosage if isinstance(dosage, list) else [dosage]:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("text"), str):
            out.append(item["text"])
        out.extend(_texts(item.get("route")))
    return out


def _day(value: Any) -> date | None:
    found = parse_date(value)
    return found.latest if found else None


# --------------------------------------------------------------------------- medicines


@dataclass(frozen=True)
class MedicineRead:
    """What :func:`medicine` used: codings (not to be reported as unmapped) and a bone drug
    recognised only by name (``None`` when coded or absent)."""

    used: frozenset[Coding]
    bone_by_name: str | None
    named: bool = False  # something in the concept's text was recognised by name


def _words(
    concept: Any, allowed: tuple[str, ...], valueset: str, found: list[Coding] | None = None
) -> tuple[list[str], set[Coding], bool]:
    """Vocabulary words of a concept: by code in ``valueset``, else by name. (words, codings
    used, found by name)."""
    found = codings(concept) if found is None else found
    hits: list[Match] = [m for c in found for m in match(c, (valueset,))]
    words = [str(m.entry.maps_to) for m in hits if m.entry.maps_to in allowed]
    if words:
        return list(dict.fromkeys(words)), {m.coding for m in hits}, False
    names = terminology.medicine_names()
    for text in _texts(concept, found):
        named = names.words_in(text, allowed)
        if named:
            return named, set(), True
    return [], set(), False


def medicine(state: V2State, resource: Resource, concept: Any) -> MedicineRead:
    """A MedicationRequest or MedicationStatement: other current medicines, the dates of doses of
    an injectable bone drug, and a recorded "no known medications"."""
    status = _str(resource.get("status"))
    where = label(resource)
    found = codings(concept)
    for c in found:
        if c.system == NO_INFO_SYSTEM and c.code == NO_KNOWN_MEDICATIONS:
            if status not in ("entered-in-error", "not-taken"):
                state.no_known_medications = where
            return MedicineRead(frozenset({c}), None)
    if status in _MED_CURRENT:
        state.active_records.append(where)
    used: set[Coding] = set()
    names = terminology.medicine_names()
    local = any(names.local_route(t) for t in (*_texts(concept, found), *_route_texts(resource)))
    words, codes, by_name = _words(concept, MEDICINES, MEDICATION_SET, found)
    used |= codes
    if status in _MED_CURRENT:
        for word in words:
            if local and word in names.systemic_only:
                state.notes.append(f"{where}: {word} by a local route (not systemic): not listed")
                continue
            how = " (matched by name)" if by_name else ""
            state.medications.setdefault(word, f"{where}{how}")
    bone, bone_codes, bone_by_name = _words(concept, BONE_DRUGS, BONE_SET, found)
    used |= bone_codes
    if bone:
        _dose(state, resource, bone[0], by_name=bone_by_name)
    return MedicineRead(
        frozenset(used),
        bone[0] if bone and bone_by_name else None,
        named=(by_name and bool(words)) or (bone_by_name and bool(bone)),
    )


def _dose(state: V2State, resource: Resource, drug: str, *, by_name: bool) -> None:
    """The date a dose of an injectable drug was given (or, for the notes only, prescribed)."""
    status = _str(resource.get("status"))
    if drug not in _group("long_interval_injection") or status in _NO_DOSE:
        return
    rtype = resource.get("resourceType")
    day: date | None = None
    kind = ""
    period = resource.get("effectivePeriod")
    period = period if isinstance(period, dict) else {}
    rank = 0
    if rtype == "MedicationAdministration":
        if status not in _GIVEN:
            return
        day = _day(resource.get("effectiveDateTime")) or _day(period.get("start"))
        kind = "administered"
    elif rtype == "MedicationStatement":
        day = _day(resource.get("effectiveDateTime")) or _day(period.get("end"))
        kind, rank = "taken (MedicationStatement effective date)", 1
    elif rtype == "MedicationRequest":
        day = _day(resource.get("authoredOn"))
        kind, rank = "prescribed (authoredOn; the dose was given on or after this day)", 2
    if day is None:
        return
    how = ", matched by name" if by_name else ""
    state.doses.append((drug, day, rank, f"{kind} {day} ({label(resource)}{how})"))


def administration(state: V2State, resource: Resource, concept: Any) -> bool:
    """A MedicationAdministration: the date of a dose of an injectable bone drug. Whether it was
    one (of any bone drug)."""
    bone, _, by_name = _words(concept, BONE_DRUGS, BONE_SET)
    if bone:
        _dose(state, resource, bone[0], by_name=by_name)
    return bool(bone)


# --------------------------------------------------------------------------- allergies


def allergy(state: V2State, resource: Resource) -> None:
    """An AllergyIntolerance: a drug or class of the allergy vocabulary (class-aware)."""
    where = label(resource)
    verification = _first_code(resource.get("verificationStatus"))
    if verification in ("refuted", "entered-in-error"):
        state.notes.append(f"{where} skipped: verificationStatus {verification}")
        return
    clinical = _first_code(resource.get("clinicalStatus"))
    concept = resource.get("code")
    found = codings(concept)
    for c in found:
        if c.system == NO_INFO_SYSTEM and c.code == NO_KNOWN_ALLERGIES:
            state.no_known_allergy = where
            return
    hits = [m for c in found for m in match(c, ALLERGY_SETS)]
    hits = [m for m in hits if m.entry.maps_to in (*ALLERGENS, "none")]
    first: dict[Coding, Match] = {}  # per coding, an exact code before a group (prefix) code
    for m in sorted(hits, key=lambda m: m.entry.match != "exact"):
        first.setdefault(m.coding, m)
    words = list(dict.fromkeys(str(m.entry.maps_to) for m in first.values()))
    by_name = False
    if not words:
        names = terminology.medicine_names()
        for text in _texts(concept):
            words = names.words_in(text, ALLERGENS)
            if words:
                by_name = True
                break
    for c in found:
        if c not in first and not by_name:
            state.report(resource, c, "substance not in the allergy value sets")
    if not words:
        if not found:
            state.report(
                resource,
                Coding(None, None, concept_text(concept)),
                "allergy without a coding, and its text names no vocabulary drug or class",
            )
        return
    if words == ["none"]:
        if clinical not in ("inactive", "resolved"):
            state.no_known_allergy = where
        return
    words = [w for w in words if w != "none"]
    if clinical in ("inactive", "resolved"):
        state.notes.append(f"{where} ({', '.join(words)}) is {clinical}: not listed")
        return
    how = " (matched by name in the text)" if by_name else ""
    if _str(resource.get("type")) == "intolerance":
        oral_group = _group("oral_bisphosphonate")
        oral = [w for w in words if w in oral_group]
        if oral:
            state.conditions.add("oral_bisphosphonate_intolerance")
            state.notes.append(
                f"oral_bisphosphonate_intolerance from {where}{how}: an intolerance of "
                f"{', '.join(oral)}, not an allergy (allergies, which would exclude every "
                "bisphosphonate, not changed)"
            )
        others = [w for w in words if w not in oral_group]
        if others:
            why = (
                f"intolerance (type = intolerance, not an allergy) of {', '.join(others)}: "
                "not listed in allergies; review"
            )
            state.notes.append(f"{where}{how}: {why}")
            for c in found or [Coding(None, None, concept_text(concept))]:
                state.report(resource, c, why)
        return
    for word in words:
        state.allergies.setdefault(word, f"{where}{how}")


def _first_code(concept: Any) -> str | None:
    for c in codings(concept):
        if c.code:
            return c.code
    return None


# --------------------------------------------------------------------------- conditions


def condition(
    state: V2State, resource: Resource, hit: Match, *, active: bool, onset: date | None
) -> None:
    """A Condition coded in one of :data:`CONDITION_SETS` (refuted ones never get here)."""
    where = label(resource)
    coded = f"{hit.entry.display} ({where})"
    if hit.valueset in ("medication-use", "immobility") and not active:
        state.notes.append(f"{coded} is not active: not current")
    elif hit.valueset == "medication-use" and hit.entry.maps_to in MEDICINES:
        state.medications.setdefault(str(hit.entry.maps_to), coded)
    elif hit.valueset == "immobility":
        state.immobilised.append(coded)
    elif hit.valueset == "vte":
        state.vte.append(coded)
    elif hit.valueset == "pregnancy":
        if active:
            state.status.setdefault("pregnant", []).append(_Status(onset, True, coded))
        else:
            state.notes.append(f"{coded} is not active: says nothing about a pregnancy now")
    elif hit.valueset == "falls":
        if onset is None:
            state.notes.append(f"{coded}: fall without a date, not counted")
        elif timedelta(0) <= state.today - onset <= timedelta(days=365):
            state.falls.setdefault(onset, coded)


# --------------------------------------------------------------------------- observations


def status_observation(
    state: V2State, resource: Resource, holder: dict[str, Any], hit: Match, when: date | None
) -> None:
    """A pregnancy or breastfeeding status Observation (coded answer or valueBoolean)."""
    fact = str(hit.entry.maps_to)
    where = label(resource)
    if fact not in ("pregnant", "breastfeeding"):  # an answer code used as the Observation code
        state.report(resource, hit.coding, "a status answer code used as the Observation code")
        return
    value: bool | None = None
    raw = holder.get("valueBoolean")
    if isinstance(raw, bool):
        value = raw
    else:
        concept = holder.get("valueCodeableConcept")
        answers = [m for c in codings(concept) for m in match(c, (STATUS_SET,))]
        allowed = ("true", "false", "unknown")
        answer = next((m.entry.maps_to for m in answers if m.entry.maps_to in allowed), None)
        if answer is None:
            for c in codings(concept) or [Coding(None, None, concept_text(concept))]:
                state.report(resource, c, f"{fact} status answer not understood")
            return
        if answer == "unknown":
            state.notes.append(f"{where}: {fact} status recorded as unknown")
            return
        value = answer == "true"
    state.status.setdefault(fact, []).append(_Status(when, value, f"{where} ({when or 'undated'})"))


# --------------------------------------------------------------------------- the facts


def finish(state: V2State, values: dict[str, Any], conditions: set[str]) -> None:
    """Write the v2 facts into ``values`` (and conditions into ``conditions``), with notes."""
    notes = state.notes
    if state.no_known_medications and state.active_records:
        notes.append(
            f"{state.no_known_medications} records no known medications, but active medicines "
            f"are recorded ({', '.join(state.active_records)}): the statement is not used"
        )
        state.no_known_medications = None
    if state.medications:
        values["medications"] = sorted(state.medications)
        notes.append(
            "medications: "
            + "; ".join(f"{w} from {src}" for w, src in sorted(state.medications.items()))
            + " (active MedicationRequest/MedicationStatement, or an active Z79 long-term use"
            " Condition)"
        )
    elif state.no_known_medications:
        values["medications"] = []
        notes.append(f"medications = [] from {state.no_known_medications} (no known medications)")
    if state.no_known_medications and "osteoporosis_drug" not in values:
        values["osteoporosis_drug"] = "none"
        notes.append(
            f"osteoporosis_drug none from {state.no_known_medications} (no known medications)"
        )
    elif "osteoporosis_drug" not in values:
        notes.append(
            "osteoporosis_drug unknown: no active bone-protection medicine is recorded, and the "
            "record does not say the patient takes none (absence is not 'none')"
        )
    _last_dose(state, values)
    if state.allergies:
        values["allergies"] = sorted(state.allergies)
        notes.append(
            "allergies: "
            + "; ".join(f"{w} from {src}" for w, src in sorted(state.allergies.items()))
        )
    elif state.no_known_allergy:
        values["allergies"] = []
        notes.append(f"allergies = [] from {state.no_known_allergy} (no known allergy)")
    if state.immobilised:
        values["immobilised"] = True
        notes.append(f"immobilised true from {'; '.join(state.immobilised)}")
    if state.vte:
        values["vte_history"] = True
        notes.append(f"vte_history true from {'; '.join(state.vte)}")
    for fact in ("pregnant", "breastfeeding"):
        _status_fact(state, values, fact)
    if state.falls:
        values["falls_last_year"] = len(state.falls)
        notes.append(
            f"falls_last_year {len(state.falls)} = coded falls on different days in the year "
            f"before {state.today} ({'; '.join(state.falls[d] for d in sorted(state.falls))}); "
            "a lower bound: falls not coded are not known"
        )
    if state.other_administrations:
        notes.append(
            f"{state.other_administrations} MedicationAdministration resource(s) not of a bone "
            "drug: not read (administrations are read only for the last injection date)"
        )
    conditions |= state.conditions


def _last_dose(state: V2State, values: dict[str, Any]) -> None:
    """The months since the last dose, from evidence that a dose was given: administrations if
    any, else statements. A prescription date is not such evidence: a prescription renewed for
    an injection that was never given would hide an overdue dose (denosumab rebound), so with
    prescriptions alone the fact stays unknown and the last prescription date is noted."""
    drug = values.get("osteoporosis_drug")
    doses = [
        (rank, day, src) for d, day, rank, src in state.doses if d == drug and day <= state.today
    ]
    if drug not in _group("long_interval_injection"):
        others = sorted({d for d, _, _, _ in state.doses if d != drug})
        for other in others:
            latest = max(day for d, day, _, _ in state.doses if d == other)
            state.notes.append(
                f"{other} last recorded on {latest}, but it is not the current osteoporosis_drug: "
                "months_since_last_dose not set"
            )
        return
    given = [d for d in doses if d[0] < 2]
    if not given:
        last = max((d for d in doses), default=None)
        prescribed = f" (last prescribed: {last[2]})" if last else ""
        state.notes.append(
            f"no recorded administration of {drug}{prescribed}: months_since_last_dose unknown "
            "(a prescription date does not show that the dose was given)"
        )
        return
    doses = given
    best = min(rank for rank, _, _ in doses)
    day, source = max((day, src) for rank, day, src in doses if rank == best)
    months = round((state.today - day).days / (365.25 / 12), 1)
    values["months_since_last_dose"] = months
    state.notes.append(f"months_since_last_dose {months} as of {state.today}: {drug} {source}")


def _status_fact(state: V2State, values: dict[str, Any], fact: str) -> None:
    readings = state.status.get(fact)
    if not readings:
        return
    latest = max(readings, key=lambda s: s.when or date.min)
    if latest.when is not None:
        age = (state.today - latest.when).days
        if age > FRESH_DAYS[(fact, latest.value)]:
            state.notes.append(
                f"{fact} {str(latest.value).lower()} from {latest.source} is {age} days old "
                f"(> {FRESH_DAYS[(fact, latest.value)]}): {fact} left unknown"
            )
            return
    elif not latest.value:
        state.notes.append(f"{fact} false from {latest.source} is undated: {fact} left unknown")
        return
    values[fact] = latest.value
    state.notes.append(f"{fact} {str(latest.value).lower()} from {latest.source}")
