"""FHIR R4 in: a patient's resources to :class:`~vertebra.facts.PatientFacts`.

Every fact comes from a code in a shipped value set (``vertebra/terminology/valuesets``) or
from a Patient field. Codes no value set knows are ignored and listed in ``unmapped``; every
derivation (age from a partial birth date, eGFR used for creatinine clearance, years on a
drug from its prescriptions) is explained in ``notes``. Nothing is guessed silently.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from vertebra import terminology
from vertebra.errors import BODY, NO_FRACTURE, FieldError, field_error
from vertebra.facts import (
    DRUGS,
    LEVELS,
    FactsError,
    Level,
    PatientFacts,
    in_range,
    parse_record_facts,
    value_range,
)
from vertebra.fhir import v2facts
from vertebra.fhir.codes import (
    Coding,
    Match,
    UnmappedCode,
    codings,
    concept_text,
    match,
)
from vertebra.fhir.dates import FhirDate, parse_date, years_between
from vertebra.fhir.note_text import NOTE_TYPES, read_note_facts
from vertebra.fhir.report_text import REPORT_TYPES, TextEvidence, read_fracture_reports
from vertebra.fhir.resources import Resource, entries, patient_keys, patient_ref_of, reference_id

CONDITION_SETS = (
    "vertebral-fracture",
    "osteoporosis",
    "malignancy",
    "patient-conditions",
    *v2facts.CONDITION_SETS,
)
DRUG_SETS = ("osteoporosis-medication", "analgesic-medication")
OBSERVATION_SETS = (
    "dxa-t-score",
    "egfr",
    "pain-score",
    "body-weight",
    "creatinine-clearance",
    v2facts.STATUS_SET,
)
# eGFR fills `egfr` (v2) and, as in v1, also creatinine_clearance when no clearance is recorded
# (said in the notes). Set to False once every consumer reads `egfr` itself.
EGFR_AS_CREATININE_CLEARANCE = True
BONE_DRUG_SET = "osteoporosis-medication"

# Vocabulary conditions that are history (true even when the Condition is resolved).
_HISTORY_WORDS = {"mi_or_stroke_history", "pagets_disease", "prior_skeletal_radiation"}
_INACTIVE = {"inactive", "resolved", "remission"}
_NOT_TRUE = {"refuted", "entered-in-error"}
_OBS_OK = {"final", "amended", "corrected", "preliminary", None}
_MED_CURRENT = {"MedicationRequest": {"active"}, "MedicationStatement": {"active"}}
# A gap longer than this between two prescriptions of a drug ends a course of treatment.
_MAX_GAP = timedelta(days=548)
_LEVEL_TOKEN = re.compile(r"(?<![A-Za-z0-9])([TL])(1[0-2]|[1-9])(?![0-9])")


class FhirFacts(BaseModel):
    """Patient facts from FHIR, with everything that was not used or was derived."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str | None
    facts: PatientFacts
    unmapped: list[UnmappedCode]
    notes: list[str]
    assumed_levels: list[Level] = []
    text_evidence: list[TextEvidence] = []


class FhirExtraction(BaseModel):
    """What could be read, before the required facts are checked (never raises for gaps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str | None
    values: dict[str, Any]
    unmapped: list[UnmappedCode]
    notes: list[str]
    problems: list[FieldError]
    assumed_levels: list[Level] = []
    text_evidence: list[TextEvidence] = []


@dataclass
class _Fracture:
    resource_id: str | None
    codes: list[Coding]
    entry_codes: list[str]
    level: str | None
    onset: FhirDate | None
    onset_source: str
    active: bool


@dataclass
class _Dated:
    when: date | None
    value: float
    source: str


@dataclass
class _DrugUse:
    drug: str
    resource_type: str
    resource_id: str | None
    start: date | None
    current: bool


@dataclass
class _State:
    today: date
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unmapped: list[UnmappedCode] = field(default_factory=list)
    problems: list[FieldError] = field(default_factory=list)
    fractures: list[_Fracture] = field(default_factory=list)
    observations: dict[str, list[_Dated]] = field(default_factory=dict)
    drug_uses: list[_DrugUse] = field(default_factory=list)
    conditions: set[str] = field(default_factory=set)
    birth: FhirDate | None = None
    reports: list[Resource] = field(default_factory=list)
    noted: list[Resource] = field(default_factory=list)
    """resources with a free-text ``note`` (read by :mod:`vertebra.fhir.note_text`)"""
    text_evidence: list[TextEvidence] = field(default_factory=list)
    v2: v2facts.V2State = field(init=False)

    def __post_init__(self) -> None:
        self.v2 = v2facts.V2State(today=self.today, report=self.report)

    def report(self, resource: Resource, coding: Coding | None, why: str) -> None:
        self.unmapped.append(
            UnmappedCode(
                resource_type=str(resource.get("resourceType")),
                resource_id=_rid(resource),
                system=coding.system if coding else None,
                code=coding.code if coding else None,
                display=coding.display if coding else None,
                why=why,
            )
        )

    def problem(self, fact: str, message: str, kind: str = "fhir") -> None:
        self.problems.append(field_error(fact, message, kind))


@cache
def _mechanism(entry_code: str) -> str | None:
    """What the vertebral-fracture value set says about a code's mechanism (terminology data)."""
    codes = terminology.load("vertebral-fracture").codes
    return next((c.mechanism for c in codes if c.code == entry_code), None)


def _list(value: Any) -> list[Any]:
    """A FHIR array, or [] when the field is missing or malformed."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year + years, day=28)


def _rid(resource: Resource) -> str | None:
    rid = resource.get("id")
    return rid if isinstance(rid, str) else None


def _label(resource: Resource) -> str:
    return f"{resource.get('resourceType')}/{_rid(resource) or '(no id)'}"


def _status_code(concept: Any) -> str | None:
    """The first non-empty code of a CodeableConcept (stripped), as :func:`codings` reads it;
    straight from the JSON, without building the codings (three calls per Condition)."""
    if not isinstance(concept, dict):
        return None
    items = concept.get("coding")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            code = item.get("code")
            if isinstance(code, str) and (code := code.strip()):
                return code
    return None


def _describe(c: Coding) -> str:
    system = {
        "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
        "http://snomed.info/sct": "SNOMED CT",
        "http://loinc.org": "LOINC",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
        "http://www.whocc.no/atc": "ATC",
    }.get(c.system or "", c.system or "(no system)")
    return f"{system} {c.code}" + (f" '{c.display}'" if c.display else "")


# --------------------------------------------------------------------------- patient


def _patient(state: _State, patient: Resource) -> None:
    gender = patient.get("gender")
    if gender in ("female", "male"):
        state.values["sex"] = gender
    elif gender is None:
        state.problem("sex", "Patient.gender is missing; female or male is required")
    else:
        state.problem(
            "sex",
            f"Patient.gender is {gender!r}; the plan needs female or male "
            "(give sex in patient facts JSON instead)",
        )

    birth = parse_date(patient.get("birthDate"))
    ref_day = state.today
    deceased = patient.get("deceasedDateTime")
    died = parse_date(deceased)
    if died is not None and died.earliest < state.today:
        ref_day = died.earliest
        state.today = ref_day
        state.notes.append(
            f"patient died on {died.text}: ages and durations are computed as of {ref_day}"
        )
    elif patient.get("deceasedBoolean") is True:
        state.notes.append("Patient.deceasedBoolean is true (date of death not given)")

    if birth is None:
        raw = patient.get("birthDate")
        why = "is missing" if raw is None else f"is not a valid date ({raw!r})"
        state.problem("age", f"Patient.birthDate {why}; age is required")
        return
    state.birth = birth
    oldest = years_between(birth.earliest, ref_day)
    youngest = years_between(birth.latest, ref_day)
    state.values["age"] = youngest
    if birth.partial:
        state.notes.append(
            f"age computed from partial birthDate {birth.text}: {youngest}"
            + (f" (could be up to {oldest})" if oldest != youngest else "")
        )
    else:
        state.notes.append(f"age {youngest} computed from birthDate {birth.text} on {ref_day}")


# --------------------------------------------------------------------------- conditions


def _onset(resource: Resource, birth: FhirDate | None) -> tuple[FhirDate | None, str]:
    found = parse_date(resource.get("onsetDateTime"))
    if found:
        return found, "onsetDateTime"
    period = resource.get("onsetPeriod")
    if isinstance(period, dict):
        found = parse_date(period.get("start"))
        if found:
            return found, "onsetPeriod.start"
    age = resource.get("onsetAge")
    if isinstance(age, dict) and birth is not None:
        value = age.get("value")
        unit = age.get("code") or age.get("unit")
        years_unit = unit in ("a", "yr", "year", "years")
        if isinstance(value, int | float) and years_unit and 0 <= value <= 130:
            start = _add_years(birth.earliest, int(value))
            end = _add_years(birth.latest, int(value) + 1) - timedelta(days=1)
            return FhirDate(f"age {value}", start, end), "onsetAge"
    found = parse_date(resource.get("recordedDate"))
    if found:
        return found, "recordedDate (no onset given)"
    return None, "none"


def _body_site_level(state: _State, resource: Resource) -> str | None:
    found: set[str] = set()
    for site in _list(resource.get("bodySite")):
        texts = [concept_text(site)] + [c.display for c in codings(site)]
        for text in texts:
            if not text:
                continue
            tokens = {f"{m[1]}{m[2]}" for m in _LEVEL_TOKEN.finditer(text)}
            tokens = {t for t in tokens if t in LEVELS}
            if len(tokens) == 1:
                found |= tokens
            elif len(tokens) > 1:
                state.notes.append(
                    f"{_label(resource)}: bodySite {text!r} names several levels; "
                    "level not taken from it"
                )
        for c in codings(site):
            state.report(resource, c, "bodySite code not in any map (only its text is read)")
    if len(found) == 1:
        return found.pop()
    if len(found) > 1:
        state.notes.append(
            f"{_label(resource)}: bodySite names different levels ({', '.join(sorted(found))}); "
            "level not taken from it"
        )
    return None


def _condition(state: _State, resource: Resource) -> None:
    verification = _status_code(resource.get("verificationStatus"))
    if verification in _NOT_TRUE:
        state.notes.append(f"{_label(resource)} skipped: verificationStatus {verification}")
        return
    clinical = _status_code(resource.get("clinicalStatus"))
    active = clinical not in _INACTIVE
    concept = resource.get("code")
    found = codings(concept)
    if not found:
        text = concept_text(concept)
        state.report(
            resource,
            Coding(None, None, text),
            "Condition has no coding (text only); text is not interpreted",
        )
        return
    matches: list[Match] = []
    for c in found:
        hits = list(match(c, CONDITION_SETS))
        if hits:
            matches.extend(hits)
    used = {id(m.coding) for m in matches}
    for c in found:
        if id(c) not in used:
            why = "code not in any vertebra value set"
            if matches:
                why += " (another coding of this Condition was used)"
            state.report(resource, c, why)
    if not matches:
        return

    fracture_hits = [m for m in matches if m.valueset == "vertebral-fracture"]
    if fracture_hits:
        _fracture(state, resource, fracture_hits, active)
    for m in matches:
        if m.valueset == "osteoporosis":
            state.notes.append(
                f"osteoporosis recorded ({_describe(m.coding)}, {_label(resource)}); "
                "PatientFacts has no osteoporosis field"
            )
        elif m.valueset == "malignancy" and m.entry.maps_to:
            state.values[m.entry.maps_to] = True
            state.notes.append(
                f"{m.entry.maps_to} = true from {_describe(m.coding)} ({_label(resource)})"
            )
        elif m.valueset in v2facts.CONDITION_SETS:
            onset, _ = _onset(resource, state.birth)
            v2facts.condition(
                state.v2, resource, m, active=active, onset=onset.latest if onset else None
            )
        elif m.valueset == "patient-conditions" and m.entry.maps_to:
            word = m.entry.maps_to
            if active or word in _HISTORY_WORDS:
                state.conditions.add(word)
            else:
                state.notes.append(
                    f"{_label(resource)} ({_describe(m.coding)}) is {clinical}: "
                    f"{word} not listed as a current condition"
                )


def _fracture(state: _State, resource: Resource, hits: list[Match], active: bool) -> None:
    """One fracture Condition: its levels come from any of its codings, else its bodySite."""
    onset, source = _onset(resource, state.birth)
    site_level = _body_site_level(state, resource)
    coded = sorted({m.entry.level for m in hits if m.entry.level}, key=LEVELS.index)
    levels: list[str | None] = list(coded)
    if not coded and site_level is not None:
        levels = [site_level]
        state.notes.append(
            f"level {site_level} from Condition.bodySite of {_label(resource)} "
            f"({', '.join(_describe(m.coding) for m in hits)} give no level)"
        )
    elif coded and site_level is not None and site_level not in coded:
        state.notes.append(
            f"{_label(resource)}: codes say {', '.join(coded)}, bodySite says {site_level}; "
            "using the codes"
        )
    if not levels:
        levels = [None]
        for m in hits:
            why = m.entry.note or "level not stated"
            state.notes.append(
                f"level unknown: {_describe(m.coding)} ({_label(resource)}) has no level ({why})"
            )
            state.report(
                resource, m.coding, f"vertebral fracture without a level ({why}); not guessed"
            )
    if not active:
        state.notes.append(
            f"{_label(resource)} has clinicalStatus "
            f"{_status_code(resource.get('clinicalStatus'))}: counted as a (past) "
            "vertebral fracture"
        )
    for level in levels:
        state.fractures.append(
            _Fracture(
                _rid(resource),
                [m.coding for m in hits],
                [m.entry.code for m in hits],
                level,
                onset,
                source,
                active,
            )
        )


def _fracture_facts(state: _State, default_level: Level | None) -> list[Level]:
    assumed: list[Level] = []
    if not state.fractures:
        state.problem(
            "fracture_levels", "no vertebral fracture Condition found in the bundle", NO_FRACTURE
        )
        return assumed
    levels = sorted({f.level for f in state.fractures if f.level}, key=LEVELS.index)
    if levels:
        state.values["fracture_levels"] = levels
        unknown = [f for f in state.fractures if f.level is None]
        if unknown:
            state.notes.append(
                f"{len(unknown)} vertebral fracture code(s) without a level were not given one; "
                f"fracture_levels lists only the stated levels ({', '.join(levels)})"
            )
    else:
        codes = "; ".join(
            sorted(
                {
                    f"{_describe(c)} (Condition/{f.resource_id})"
                    for f in state.fractures
                    for c in f.codes
                }
            )
        )
        if default_level is None:
            state.notes.append(
                f"fracture_levels unknown: a fracture was found ({codes}) but no code or bodySite "
                "states its level; the level is not guessed and the plan asks for it to be "
                "confirmed on imaging (or convert with default_level)"
            )
        else:
            state.values["fracture_levels"] = [default_level]
            assumed.append(default_level)
            state.notes.append(
                f"fracture_levels = [{default_level}] is an ASSUMPTION supplied by the caller "
                f"(default_level), not from the record: {codes} state no level. "
                "Confirm the level on imaging."
            )

    dated = [f for f in state.fractures if f.onset is not None]
    if dated:
        latest = max(dated, key=lambda f: f.onset.latest if f.onset else date.min)
        assert latest.onset is not None
        days = (state.today - latest.onset.latest).days
        if days < 0:
            state.notes.append(
                f"fracture onset {latest.onset.text} is after {state.today}: "
                "days_since_onset left unknown"
            )
        else:
            state.values["days_since_onset"] = days
            extra = " (partial date: latest possible day used)" if latest.onset.partial else ""
            state.notes.append(
                f"days_since_onset {days} from {latest.onset_source} {latest.onset.text} "
                f"of Condition/{latest.resource_id}{extra}"
            )
    else:
        state.notes.append("no fracture onset date recorded: days_since_onset unknown")

    osteoporotic = sorted(
        {
            _describe(c)
            for f in state.fractures
            for c, code in zip(f.codes, f.entry_codes, strict=True)
            if _mechanism(code) == "osteoporotic"
        }
    )
    injury = [
        f for f in state.fractures if any(_mechanism(c) == "not_stated" for c in f.entry_codes)
    ]
    if osteoporotic and not injury:
        state.values["mechanism"] = "low_energy"
        state.notes.append(
            f"mechanism low_energy: {', '.join(osteoporotic)} define the fracture as due to "
            "osteoporosis"
        )
    elif injury:
        state.notes.append(
            "mechanism unknown: injury codes (S22/S32) do not say whether the energy was low"
        )
    return assumed


# --------------------------------------------------------------------------- observations


def _effective(resource: Resource) -> date | None:
    for key in ("effectiveDateTime", "effectiveInstant", "issued"):
        found = parse_date(resource.get(key))
        if found:
            return found.latest
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        found = parse_date(period.get("start")) or parse_date(period.get("end"))
        if found:
            return found.latest
    return None


def _numeric(holder: dict[str, Any]) -> tuple[float, str | None, str | None] | None:
    """(value, unit, comparator) of a valueQuantity or valueInteger."""
    quantity = holder.get("valueQuantity")
    if isinstance(quantity, dict):
        value = quantity.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            unit = _text(quantity.get("code")) or _text(quantity.get("unit"))
            return float(value), unit, _text(quantity.get("comparator"))
    value = holder.get("valueInteger")
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value), None, None
    return None


def _weight_kg(value: float, unit: str | None) -> float | None:
    if unit is None or unit in ("kg", "kilogram", "kilograms"):
        return value
    if unit == "g":
        return value / 1000
    if unit in ("[lb_av]", "lb", "lbs", "pound", "pounds"):
        return round(value * 0.45359237, 1)
    return None


def _ml_per_minute(value: float, unit: str | None) -> float | None:
    """A clearance or eGFR in mL/min (per 1.73 m² or not): as is, or converted from mL/s (×60);
    a missing unit is accepted; ``None`` for any other unit."""
    if unit is None or "min" in unit.lower():
        return value
    if unit.lower().replace(" ", "").startswith("ml/s"):
        return round(value * 60, 1)
    return None


def _observation(state: _State, resource: Resource) -> None:
    status = _text(resource.get("status"))
    if status not in _OBS_OK:
        state.notes.append(f"{_label(resource)} skipped: status {status}")
        return
    when = _effective(resource)
    parts: list[tuple[Any, dict[str, Any]]] = [(resource.get("code"), resource)]
    for comp in _list(resource.get("component")):
        if isinstance(comp, dict):
            parts.append((comp.get("code"), comp))
    for concept, holder in parts:
        found = codings(concept)
        hits = [m for c in found for m in match(c, OBSERVATION_SETS)]
        used = {id(m.coding) for m in hits}
        for c in found:
            if id(c) not in used:
                state.report(resource, c, "code not in any vertebra value set")
        if not hits:
            continue
        m = hits[0]
        if m.valueset == v2facts.STATUS_SET:
            v2facts.status_observation(state.v2, resource, holder, m, when)
            continue
        reading = _numeric(holder)
        if reading is None:
            absent = holder.get("dataAbsentReason")
            why = "no numeric value" + (" (dataAbsentReason given)" if absent else "")
            state.report(resource, m.coding, why)
            continue
        value, unit, comparator = reading
        fact = {
            "dxa-t-score": "t_score",
            "egfr": "egfr",
            "creatinine-clearance": "creatinine_clearance",
            "pain-score": "pain_score",
            "body-weight": "weight_kg",
        }[m.valueset]
        if fact == "weight_kg":
            kg = _weight_kg(value, unit)
            if kg is None:
                state.report(resource, m.coding, f"weight unit {unit!r} not understood")
                continue
            value = kg
        if fact in ("egfr", "creatinine_clearance"):
            per_minute = _ml_per_minute(value, unit)
            if per_minute is None:
                what = "eGFR" if fact == "egfr" else "creatinine clearance"
                state.report(resource, m.coding, f"{what} unit {unit!r} not understood (mL/min)")
                continue
            value = per_minute
        if not in_range(fact, value):
            low, high = value_range(fact)
            state.report(resource, m.coding, f"value {value} outside {low:g}..{high:g}; ignored")
            continue
        source = f"{_describe(m.coding)} ({_label(resource)})"
        if comparator:
            source += f", reported as {comparator}{value:g}: the value is a bound, used as is"
        state.observations.setdefault(fact, []).append(_Dated(when, value, source))


def _observation_facts(state: _State) -> None:
    def key(d: _Dated) -> date:
        return d.when or date.min

    for fact, readings in sorted(state.observations.items()):
        latest_day = max(key(d) for d in readings)
        if fact == "t_score":
            same_day = [d for d in readings if key(d) == latest_day]
            chosen = min(same_day, key=lambda d: d.value)
            state.values[fact] = chosen.value
            state.notes.append(
                f"t_score {chosen.value} = lowest T-score of the most recent DXA "
                f"({latest_day if latest_day != date.min else 'undated'}): {chosen.source}"
            )
            continue
        chosen = max(readings, key=key)
        state.values[fact] = chosen.value
        when = chosen.when.isoformat() if chosen.when else "undated"
        state.notes.append(f"{fact} {chosen.value} from {chosen.source}, {when}")
        if (
            fact == "egfr"
            and EGFR_AS_CREATININE_CLEARANCE
            and ("creatinine_clearance" not in state.observations)
        ):
            state.values["creatinine_clearance"] = chosen.value
            state.notes.append(
                f"creatinine_clearance {chosen.value} taken from the most recent eGFR ({when}, "
                f"{chosen.source}): eGFR is per 1.73 m² and only approximates Cockcroft–Gault"
            )


# --------------------------------------------------------------------------- medicines


def _medication_concepts(
    resource: Resource, medications: dict[str, Resource]
) -> tuple[Any, str | None]:
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return concept, None
    ref = resource.get("medicationReference")
    target = reference_id(ref, "Medication")
    if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
        raw: str = ref["reference"]
        if raw.startswith("#"):
            for item in _list(resource.get("contained")):
                if isinstance(item, dict) and item.get("id") == raw[1:]:
                    return item.get("code"), None
            return None, f"contained Medication {raw} not found"
    if target and target in medications:
        return medications[target].get("code"), None
    if ref is not None:
        return None, "referenced Medication not in the bundle"
    return None, "no medication given"


def _medicine(state: _State, resource: Resource, medications: dict[str, Resource]) -> None:
    rtype = str(resource.get("resourceType"))
    status = _text(resource.get("status"))
    if status == "entered-in-error":
        return
    concept, problem = _medication_concepts(resource, medications)
    if concept is None:
        state.report(resource, None, problem or "no medication code")
        return
    read = v2facts.medicine(state.v2, resource, concept)
    found = codings(concept)
    if not found and not read.named:
        why = "no coding (text only), and the text names no vocabulary medicine"
        state.report(resource, Coding(None, None, concept_text(concept)), why)
    hits = [m for c in found for m in match(c, DRUG_SETS)]
    used = {id(m.coding) for m in hits}
    for c in found:
        if id(c) not in used and c not in read.used:
            why = "medicine not in any vertebra value set"
            if read.named:
                why += " (its name was recognised: see notes)"
            state.report(resource, c, why)
    bone = [m for m in hits if m.valueset == BONE_DRUG_SET and m.entry.maps_to in DRUGS]
    bone_drug = str(bone[0].entry.maps_to) if bone else read.bone_by_name
    if read.bone_by_name and not bone:
        state.notes.append(f"{_label(resource)}: {read.bone_by_name} recognised by name")
    if bone_drug is None:
        if hits and status in _MED_CURRENT.get(rtype, set()):
            names = sorted({str(m.entry.maps_to) for m in hits})
            state.notes.append(f"current {', '.join(names)} ({_label(resource)})")
        return
    start: FhirDate | None = None
    if rtype == "MedicationRequest":
        start = parse_date(resource.get("authoredOn"))
    else:
        period = resource.get("effectivePeriod")
        start = parse_date(resource.get("effectiveDateTime")) or (
            parse_date(period.get("start")) if isinstance(period, dict) else None
        )
        start = start or parse_date(resource.get("dateAsserted"))
    state.drug_uses.append(
        _DrugUse(
            bone_drug,
            rtype,
            _rid(resource),
            start.earliest if start else None,
            status in _MED_CURRENT.get(rtype, set()),
        )
    )


def _medicine_facts(state: _State) -> None:
    current = [u for u in state.drug_uses if u.current]
    if not current:
        if state.drug_uses:
            names = sorted({u.drug for u in state.drug_uses})
            state.notes.append(
                f"past bone-protection medicine(s) recorded ({', '.join(names)}), none active: "
                "osteoporosis_drug left unknown"
            )
        return
    drugs = sorted({u.drug for u in current})
    chosen = max(current, key=lambda u: u.start or date.min)
    if len(drugs) > 1:
        state.notes.append(
            f"several current bone-protection medicines ({', '.join(drugs)}); "
            f"using the most recently started, {chosen.drug}"
        )
    drug = chosen.drug
    state.values["osteoporosis_drug"] = drug
    state.notes.append(f"osteoporosis_drug {drug} from {chosen.resource_type}/{chosen.resource_id}")

    # Course of treatment: walk back from the latest record while gaps stay short.
    starts = sorted({u.start for u in state.drug_uses if u.drug == drug and u.start})
    if not starts:
        state.notes.append(f"no start date for {drug}: years_on_osteoporosis_drug unknown")
        return
    first = starts[-1]
    for earlier in reversed(starts[:-1]):
        if first - earlier > _MAX_GAP:
            break
        first = earlier
    years = max(0.0, round((state.today - first).days / 365.25, 1))
    state.values["years_on_osteoporosis_drug"] = years
    state.notes.append(
        f"years_on_osteoporosis_drug {years}: {drug} recorded since {first} "
        f"({len([s for s in starts if s >= first])} prescription/statement date(s), "
        f"gaps ≤ {_MAX_GAP.days} days; adherence not known)"
    )
    on_drug_for_a_year = first + timedelta(days=365)
    for f in state.fractures:
        if f.onset is not None and on_drug_for_a_year <= f.onset.earliest <= state.today:
            state.values["fracture_on_treatment"] = True
            state.notes.append(
                f"fracture_on_treatment true: vertebral fracture Condition/{f.resource_id} "
                f"began {f.onset.text}, after more than a year of recorded {drug}"
            )
            break


# --------------------------------------------------------------------------- allergies


def _allergy(state: _State, resource: Resource) -> None:
    """Class-aware allergy intake: see :func:`vertebra.fhir.v2facts.allergy`."""
    v2facts.allergy(state.v2, resource)


def _administration(state: _State, resource: Resource, medications: dict[str, Resource]) -> None:
    """A MedicationAdministration: only the date of a dose of an injectable bone drug is read."""
    concept, problem = _medication_concepts(resource, medications)
    if concept is None:
        state.report(resource, None, problem or "no medication code")
        return
    if not v2facts.administration(state.v2, resource, concept):
        state.v2.other_administrations += 1  # counted in one note, not listed one by one


# --------------------------------------------------------------------------- entry points

_HANDLED = {
    *REPORT_TYPES,
    "Patient",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Medication",
    "MedicationAdministration",
}


def extract_facts(
    data: Any, *, today: date | None = None, default_level: Level | None = None
) -> FhirExtraction:
    """Read what FHIR gives for one patient, without requiring the required facts.

    Raises :class:`FactsError` only when the input is not FHIR or holds several patients.
    """
    items = entries(data)
    patients: dict[str, tuple[Resource, str | None]] = {}
    for resource, url in items:
        if resource.get("resourceType") == "Patient":
            key = _rid(resource) or url or f"#{len(patients)}"
            patients.setdefault(key, (resource, url))
    if len(patients) > 1:
        raise FactsError.one(
            BODY,
            f"{len(patients)} Patient resources ({', '.join(sorted(patients))})"
            "; send one patient per request (split_by_patient splits a bulk export)",
            "fhir",
        )
    state = _State(today=today or date.today())
    patient_id: str | None = None
    keys: set[str] = set()
    if patients:
        patient, url = next(iter(patients.values()))
        patient_id = _rid(patient)
        keys = patient_keys(patient, url)
        _patient(state, patient)
    else:
        state.problem("age", "no Patient resource in the bundle")
        state.problem("sex", "no Patient resource in the bundle")

    medications = {
        rid: r for r, _ in items if r.get("resourceType") == "Medication" and (rid := _rid(r))
    }
    ignored: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for resource in (r for r, _ in items if r.get("resourceType") != "Patient"):
        rtype = str(resource["resourceType"])
        if rtype not in _HANDLED:
            ignored[rtype] += 1
            continue
        owner = patient_ref_of(resource)
        if owner is not None and keys and owner not in keys:
            others[rtype] += 1
            continue
        if owner is None and rtype != "Medication":
            state.notes.append(f"{_label(resource)} names no patient; read as this patient's")
        if rtype in NOTE_TYPES and resource.get("note"):
            state.noted.append(resource)
        if rtype == "Condition":
            _condition(state, resource)
        elif rtype == "Observation":
            _observation(state, resource)
        elif rtype in ("MedicationRequest", "MedicationStatement"):
            _medicine(state, resource, medications)
        elif rtype == "AllergyIntolerance":
            _allergy(state, resource)
        elif rtype == "MedicationAdministration":
            _administration(state, resource, medications)
        elif rtype in REPORT_TYPES:
            state.reports.append(resource)

    _report_text_fractures(state)
    assumed = _fracture_facts(state, default_level)
    _observation_facts(state)
    _medicine_facts(state)
    v2facts.finish(state.v2, state.values, state.conditions)
    state.notes.extend(state.v2.notes)
    _note_text_facts(state)
    if state.conditions:
        state.values["conditions"] = sorted(state.conditions)
        state.notes.append(
            "conditions lists coded conditions only; a condition without a code is unknown, "
            "not absent"
        )
    for rtype, count in sorted(ignored.items()):
        state.notes.append(f"{count} {rtype} resource(s) not used (resource type not mapped)")
    for rtype, count in sorted(others.items()):
        state.notes.append(f"{count} {rtype} resource(s) belong to another patient: skipped")
    return FhirExtraction(
        patient_id=patient_id,
        values=state.values,
        unmapped=state.unmapped,
        notes=state.notes,
        problems=state.problems,
        assumed_levels=assumed,
        text_evidence=state.text_evidence,
    )


def _note_text_facts(state: _State) -> None:
    """Facts that free-text notes state and coded data left unknown (never a coded fact)."""
    if not state.noted:
        return
    read = read_note_facts(state.noted, state.values)
    state.values.update(read.values)
    state.text_evidence.extend(read.evidence)
    state.notes.extend(read.notes)


def _report_text_fractures(state: _State) -> None:
    """With no coded vertebral fracture, a report that describes one supplies the fracture: its
    levels, and its date as the onset only when the text says the fracture is acute (an old or
    age-indeterminate fracture leaves days_since_onset unknown). Every fact taken from text is
    noted with the report and the sentence."""
    if state.fractures or not state.reports:
        return
    for ev in read_fracture_reports(state.reports):
        state.text_evidence.append(ev)
        onset = None
        if ev.acuity == "acute" and ev.date is not None:
            onset = FhirDate(ev.date.isoformat(), ev.date, ev.date)
        rid = ev.resource.split("/", 1)[1] if "/" in ev.resource else ev.resource
        levels: list[str | None] = list(ev.levels) or [None]
        for level in levels:
            state.fractures.append(
                _Fracture(rid, [], [], level, onset, f"report date ({ev.resource})", True)
            )
        said = ", ".join(ev.levels) or "level not named"
        acuity = ev.acuity or "acuity not stated"
        state.notes.append(
            f"vertebral fracture from report text, not coded: {ev.resource} says "
            f'"{ev.sentence}" ({said}; {acuity})'
        )
        if ev.acuity is not None and ev.acuity != "acute":
            state.notes.append(
                f"{ev.resource}: the fracture is {ev.acuity.replace('_', '-')}, so the report date "
                "is not its onset: days_since_onset left unknown"
            )


def to_facts(
    bundle_or_resources: dict[str, Any] | list[dict[str, Any]],
    *,
    today: date | None = None,
    default_level: Level | None = None,
) -> FhirFacts:
    """FHIR R4 (Bundle, resource list or CDS Hooks prefetch) to validated patient facts.

    Raises :class:`FactsError` naming each field that is missing (no Patient, no vertebral
    fracture) or invalid (age < 18). A fracture coded without a level leaves
    ``fracture_levels`` unknown (the plan asks for it); ``default_level``, if given, is used
    instead and then listed in ``assumed_levels`` and in the notes, never silently.
    """
    extraction = extract_facts(bundle_or_resources, today=today, default_level=default_level)
    if extraction.problems:
        raise FactsError(extraction.problems)
    facts = parse_record_facts(extraction.values)
    return FhirFacts(
        patient_id=extraction.patient_id,
        facts=facts,
        unmapped=extraction.unmapped,
        notes=extraction.notes,
        assumed_levels=extraction.assumed_levels,
        text_evidence=extraction.text_evidence,
    )
