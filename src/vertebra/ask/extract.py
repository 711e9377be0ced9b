"""Read patient details out of a clinician's question into partial patient facts.

The question is read by the clinical language module (:mod:`vertebra.language`): shorthand,
brands, typos, levels and ranges, ages and relative dates are normalised there, and negation,
uncertainty, history and family context come from medspaCy's ConText. This module maps what was
read to patient facts (contract §1 names) with the phrases of ``data/extraction.yaml``. Only what
the question states is extracted; everything else stays unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, get_args

from vertebra.ask.lexicon import extraction
from vertebra.facts import LEVELS, MEDICINE_CLASSES, CurrentBoneDrug
from vertebra.language import Age, ConceptSet, Finding, Reading, Unreadable, read

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_NUM = r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"

_CONSERVATIVE = re.compile(
    _NUM + r"[- ](day|week|month)s?(?:'s)? (?:of )?(?:\w+ ){0,2}"
    r"(?:conservative|medical|non-?operative|nonsurgical|non-surgical) "
    r"(?:care|management|treatment|therapy)"
)
_DURATION = re.compile(_NUM + r"[- ](day|week|month|year)s?(?:'s)?(?: (old|ago))?")
_PAIN = (
    re.compile(
        r"\b(?:pain|vas|nrs)(?: score)?(?: of| is| was|:|=| at)?\s*"
        r"(\d{1,2}(?:\.\d)?)\s*(?:/|out of )\s*10\b"
    ),
    re.compile(r"\b(\d{1,2}(?:\.\d)?)\s*/\s*10\b"),
)
_CRCL = re.compile(
    r"\b(creatinine clearance)\s*"
    r"(?:of|is|was|=|:|at|around|about|only|below|under|<)?"
    r"\s*(\d{1,3}(?:\.\d+)?)"
)
_TSCORE = re.compile(r"\bt-score\s*(?:of|is|was|=|:)?\s*(-|minus )?(\d(?:\.\d+)?)")
_WEIGHT = re.compile(r"\b(\d{2,3}(?:\.\d+)?)\s*kg\b")
_NOT_BEFORE = re.compile(r"\b(no|not|without)\s+(\w+\s+)?$")
_PRIOR = re.compile(
    r"\b(?:previous|prior|earlier|old|history of (?:an? )?|had an? )(?:\w+ )?(?:\w+ )?fractures?\b"
)


@dataclass
class Extracted:
    """What a question says about the patient: fact -> value, and the words it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    drugs: list[str] = field(default_factory=list)
    """Every drug the question names (its topic or the patient's record)."""
    background_drugs: list[str] = field(default_factory=list)
    """Drugs named as part of the patient's story ("despite paracetamol", "on Prolia")."""
    egfr: bool = False
    age_range: tuple[int, int] | None = None
    """An age written as a range ("in her 80s"): the plan is checked at both ends."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """fact -> the words that gave it but could not be read ("could not read …")."""
    other_levels: list[str] = field(default_factory=list)
    """Cervical or sacral levels named (outside the knowledge base's thoracolumbar scope)."""
    reading: Reading | None = None

    def set(self, fact: str, value: Any, phrase: str) -> None:
        if fact not in self.values:
            self.values[fact] = value
            self.evidence[fact] = phrase.strip()

    @property
    def describes_patient(self) -> bool:
        return bool(self.values) or self.age_range is not None


def _number(text: str) -> float:
    return float(_NUMBER_WORDS[text]) if text in _NUMBER_WORDS else float(text)


@dataclass(frozen=True)
class _Compiled:
    concepts: ConceptSet
    labels: dict[str, tuple[str, str, Any]]
    """concept label -> (kind, name, value)"""
    value_order: tuple[tuple[str, tuple[tuple[int, Any], ...]], ...]
    numbers: tuple[tuple[str, tuple[re.Pattern[str], ...], int | None, float, float], ...]
    drugs: tuple[tuple[str, re.Pattern[str], str], ...]
    current: dict[str, tuple[re.Pattern[str], ...]]
    allergy: dict[str, tuple[re.Pattern[str], ...]]
    not_topic: dict[str, tuple[re.Pattern[str], ...]]
    allergy_classes: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    unreadable: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    drug_history: re.Pattern[str]


@cache
def _compiled() -> _Compiled:
    data = extraction()
    concepts: dict[str, list[str]] = {}
    labels: dict[str, tuple[str, str, Any]] = {}
    order: list[tuple[str, tuple[tuple[int, Any], ...]]] = []
    for fact, options in data.values.items():
        opts = []
        for i, o in enumerate(options):
            label = f"value:{fact}:{i}"
            concepts[label] = list(o.patterns)
            labels[label] = ("value", fact, o.value)
            opts.append((i, o.value))
        order.append((fact, tuple(opts)))
    for kind, table in (
        ("condition", data.conditions),
        ("red_flag", data.red_flags),
        ("medication", {**data.medication_names, **data.medication_classes}),
    ):
        for name, patterns in table.items():
            label = f"{kind}:{name}"
            concepts[label] = list(patterns)
            labels[label] = (kind, name, True)
    drugs: list[tuple[str, re.Pattern[str], str]] = []
    for drug, names in data.drugs.items():
        alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        drugs.append((drug, re.compile(rf"(?<![a-z])(?:{alt})(?![a-z])"), alt))

    def templates(ts: list[str], alt: str) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(t.replace("{drug}", f"(?:{alt})")) for t in ts)

    return _Compiled(
        concepts=ConceptSet(concepts),
        labels=labels,
        value_order=tuple(order),
        numbers=tuple(
            (fact, tuple(re.compile(p) for p in n.patterns), n.unit_to, n.low, n.high)
            for fact, n in data.numbers.items()
        ),
        drugs=tuple(drugs),
        current={d: templates(data.current_drug, alt) for d, _, alt in drugs},
        allergy={d: templates(data.allergy, alt) for d, _, alt in drugs},
        not_topic={d: templates(data.drug_not_topic, alt) for d, _, alt in drugs},
        allergy_classes=tuple(
            (name, templates(data.allergy, "|".join(ps)))
            for name, ps in data.allergy_classes.items()
        ),
        unreadable=tuple(
            (fact, tuple(re.compile(p) for p in ps)) for fact, ps in data.unreadable_cues.items()
        ),
        drug_history=re.compile(rf"(?:{data.drug_history_before})\W*(\w+\W+){{0,2}}$"),
    )


def _unit_days(unit: str) -> int:
    return _UNIT_DAYS[unit.rstrip("s")]


def _age(out: Extracted, reading: Reading) -> None:
    age = reading.age
    if isinstance(age, Age):
        if age.exact:
            out.set("age", age.low, age.text)
        else:
            out.age_range = (age.low, age.high)
            out.evidence["age"] = age.text
        if age.sex is not None:
            out.set("sex", age.sex, age.text)
    elif isinstance(age, Unreadable):
        out.unreadable["age"] = age.text


def _durations(out: Extracted, text: str) -> None:
    m = _CONSERVATIVE.search(text)
    if m:
        days = _number(m.group(1)) * _UNIT_DAYS[m.group(2)]
        out.set("weeks_of_conservative_care", round(days / 7, 1), m.group(0))
        out.set("days_since_onset", int(days), m.group(0))
    for m in _DURATION.finditer(text):
        phrase = m.group(0)
        unit, tail = m.group(2), m.group(3)
        before = text[max(0, m.start() - 30) : m.start()]
        if unit == "year" and tail != "ago":
            if re.search(r"\bfor\s*$", before) or re.search(r"\bon \w+\s*$", before):
                out.set("years_on_osteoporosis_drug", _number(m.group(1)), phrase)
            continue
        if _compiled().drug_history.search(before):
            continue  # a drug's history, not the fracture's age
        out.set("days_since_onset", int(_number(m.group(1)) * _UNIT_DAYS[unit]), phrase)
        break


def _numbers(out: Extracted, text: str, c: _Compiled) -> None:
    m: re.Match[str] | None
    for m in _PAIN[0].finditer(text):
        if float(m.group(1)) <= 10:
            out.set("pain_score", float(m.group(1)), m.group(0))
            break
    else:
        m2 = _PAIN[1].search(text)
        if m2 and float(m2.group(1)) <= 10:
            out.set("pain_score", float(m2.group(1)), m2.group(0))
    m = _CRCL.search(text)
    if m and float(m.group(2)) <= 300:
        out.set("creatinine_clearance", float(m.group(2)), m.group(0))
    m = _TSCORE.search(text)
    if m:
        value = float(m.group(2)) * (-1 if m.group(1) else 1)
        if -7 <= value <= 4:
            out.set("t_score", value, m.group(0))
    m = _WEIGHT.search(text)
    if m and 0 < float(m.group(1)) <= 400:
        out.set("weight_kg", float(m.group(1)), m.group(0))
    for fact, patterns, unit_to, low, high in c.numbers:
        for p in patterns:
            hit = p.search(text)
            if hit is None:
                continue
            value = float(hit.group("value"))
            unit = hit.groupdict().get("unit")
            if unit and unit_to:
                value = round(value * _unit_days(unit) / unit_to, 1)
            if low <= value <= high:
                out.set(fact, int(value) if value.is_integer() else value, hit.group(0))
                break
    if "egfr" in out.values:
        out.egfr = True


def _concepts(out: Extracted, found: list[Finding], c: _Compiled) -> None:
    by_label: dict[str, list[Finding]] = {}
    for f in found:
        if f.family or f.hypothetical:
            continue
        by_label.setdefault(f.label, []).append(f)
    for fact, options in c.value_order:
        for i, value in options:
            hits = by_label.get(f"value:{fact}:{i}", [])
            affirmed = [f for f in hits if not f.negated]
            if affirmed:
                out.set(fact, value, affirmed[0].text)
                break
            if hits and isinstance(value, bool) and value:
                out.set(fact, False, f"no {hits[0].text}")
                break
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for label, hits in by_label.items():
        kind, name, _ = c.labels[label]
        if kind == "value":
            continue
        affirmed = [f for f in hits if not f.negated and not f.uncertain]
        if affirmed:
            names, phrases = groups.setdefault(kind, ([], []))
            if name not in names:
                names.append(name)
                phrases.append(affirmed[0].text)
    conditions = groups.get("condition")
    if conditions:
        out.set("conditions", conditions[0], "; ".join(conditions[1]))
    flags = groups.get("red_flag")
    if flags:
        out.set("red_flags", flags[0], "; ".join(flags[1]))
    meds = groups.get("medication")
    if meds:
        names = list(meds[0])
        specific = [n for n in names if n not in MEDICINE_CLASSES]
        if specific:  # a class word next to a named medicine of that class adds nothing
            names = specific + [
                n for n in names if n in MEDICINE_CLASSES and n not in _classes_of(specific)
            ]
        out.set("medications", names, "; ".join(meds[1]))


@cache
def _medicine_classes() -> dict[str, tuple[str, ...]]:
    from vertebra.knowledge.loader import load

    return {m: tuple(v.classes) for m, v in load().medicines.medicines.items()}


def _classes_of(medicines: list[str]) -> set[str]:
    table = _medicine_classes()
    return {cls for m in medicines for cls in table.get(m, ())}


def _drugs(out: Extracted, text: str, c: _Compiled) -> None:
    allergies: list[str] = []
    for name, patterns in c.allergy_classes:
        if any(p.search(text) for p in patterns):
            allergies.append(name)
    for drug, pattern, _alt in c.drugs:
        m = pattern.search(text)
        if m is None:
            continue
        out.drugs.append(drug)
        if any(p.search(text) for p in c.not_topic[drug]):
            out.background_drugs.append(drug)
        if any(p.search(text) for p in c.allergy[drug]):
            allergies.append(drug)
        else:
            for p in c.current[drug]:
                cur = p.search(text)
                if cur and not re.search(
                    r"\b(not|never|no longer|stopped)\s+(\w+\s+)?$",
                    text[max(0, cur.start() - 20) : cur.start()],
                ):
                    out.set("osteoporosis_drug", drug, cur.group(0))
                    break
    if allergies:
        out.set("allergies", list(dict.fromkeys(allergies)), ", ".join(allergies))


def extract(question: str, today: dt.date | None = None) -> Extracted:
    """Partial patient facts stated in ``question``; relative dates count back from ``today``."""
    c = _compiled()
    reading = read(question, today, find_concepts=False)
    text = " " + reading.text + " "
    out = Extracted(reading=reading)

    levels = [lv for lv in reading.levels if lv in LEVELS]
    if levels:
        phrases = ", ".join(m.text for m in reading.level_mentions if not m.disc)
        out.set("fracture_levels", levels, phrases)
    out.other_levels = [lv for lv in reading.levels if lv not in LEVELS]
    _age(out, reading)
    _durations(out, text)
    _numbers(out, text, c)
    m = _PRIOR.search(text)
    if m and not _NOT_BEFORE.search(text[max(0, m.start() - 15) : m.start()]):
        out.set("prior_fragility_fractures", 1, m.group(0))
    _concepts(out, c.concepts.find(text), c)
    _drugs(out, text, c)
    for fact, cues in c.unreadable:
        if fact in out.values:
            continue
        hit = next((m for p in cues if (m := p.search(text))), None)
        if hit is not None:
            out.unreadable[fact] = text[max(0, hit.start() - 15) : hit.end() + 20].strip()
    _sanity(out)
    return out


_BONE_DRUGS = frozenset(get_args(CurrentBoneDrug))


def _sanity(out: Extracted) -> None:
    """Drop readings that contradict the facts' own rules."""
    drug = out.values.get("osteoporosis_drug")
    if drug is not None and drug not in _BONE_DRUGS:
        del out.values["osteoporosis_drug"], out.evidence["osteoporosis_drug"]
    if "years_on_osteoporosis_drug" in out.values and out.values.get("osteoporosis_drug") in (
        None,
        "none",
    ):
        del out.values["years_on_osteoporosis_drug"], out.evidence["years_on_osteoporosis_drug"]
    if out.values.get("sex") == "male" and "postmenopausal" in out.values:
        del out.values["postmenopausal"], out.evidence["postmenopausal"]
    if out.values.get("postmenopausal") is not None and "sex" not in out.values:
        out.set("sex", "female", out.evidence["postmenopausal"])
    if "age" in out.values and out.values["age"] < 18:
        out.unreadable.pop("age", None)
